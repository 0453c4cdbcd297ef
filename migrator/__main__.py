from migrator.cli.entry import main

main()
