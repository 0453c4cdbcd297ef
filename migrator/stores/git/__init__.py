"""git repositories: objects read and written in-process through libgit2 (objects.py), and the git
command line for the network (transport.py). The only code that touches pygit2 or runs git."""
