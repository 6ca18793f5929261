# The take-home's grader (docs/hiring.md): make grade SUBMISSION=alice.ipynb|submissions/ [HIDDEN=~/hiring/hidden] [OUT=reports/]
SUBMISSION ?=
HIDDEN ?=
OUT ?=
.PHONY: grade
grade: setup
	@test -n "$(SUBMISSION)" || { echo "Name a notebook or a folder: make grade SUBMISSION=submissions/ HIDDEN=path/to/hidden"; exit 2; }
	$(BIN)/python -m aieng grade $(SUBMISSION) $(if $(HIDDEN),--hidden-tests $(HIDDEN)) $(if $(OUT),--out $(OUT))
