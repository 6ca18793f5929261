# The executed course as a site, and slides, from the notebooks `make test` executed (one execution:
# aieng/executed_plugin.py keeps each solution notebook nbval ran in build/executed/).
#   make site   · build/site/index.html: every chapter with its outputs and plots, previous/next links
#   make slides · build/slides/NN_name.slides.html: one reveal.js deck per chapter (choices: docs/instructor/slides.toml)
# Both work offline: mermaid, MathJax and reveal.js are fetched once from the npm registry into .cache/web/
# (pinned versions, checksums checked: aieng/web_assets.py) and copied beside the pages.
# SITE_PARTIAL=1 builds the chapters that have been executed and lists the others instead of failing.
.PHONY: site slides

site: setup
	$(BIN)/python -m aieng.site $(if $(SITE_PARTIAL),--allow-missing)

slides: setup
	$(BIN)/python -m aieng.slides
