from assetflow.cli import main

main()
