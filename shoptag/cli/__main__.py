from shoptag.cli.main import run

run()
