from perfkit.cli.app import main

main()
