from proxyfleet.cli import main

main()
