# make check-updates · install the newest releases of requirements.txt's direct dependencies (torch and
# llama-cpp-python stay pinned) into a scratch venv under .aieng/check-updates/, run the unit tests and
# chapter 00 there, and report which versions differ from the pins and which tests they broke.
# It downloads packages and runs a chapter: about the time the README gives. See aieng/check_updates.py.
.PHONY: check-updates

check-updates: setup
	$(BIN)/python -m aieng.check_updates
