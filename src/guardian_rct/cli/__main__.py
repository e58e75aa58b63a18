from guardian_rct.cli import run

run()
