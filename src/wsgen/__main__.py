from wsgen.entry import main

main()
