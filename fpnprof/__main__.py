from fpnprof.cli import main

main()
