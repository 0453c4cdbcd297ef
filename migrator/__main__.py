from migrator.cli.app import main

main()
