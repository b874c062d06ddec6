from wsgen.cli import main

main()
