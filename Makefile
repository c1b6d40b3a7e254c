# cxr-mm: the two commands of the README, and their parts.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install demo lint test bench clean-demo

install:            ## create/update .venv (idempotent; mmcv wheel cached in ~/.cache/cxr-mm)
	bash tools/setup_env.sh

demo: install       ## the main job: demo data -> stage 1 -> stage 2 -> mAP -> CAM, on CPU
	$(PY) tools/run_demo.py --work-dir work_dirs/demo

lint: install       ## the one formatter/linter (ruff, config in pyproject.toml)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint          ## lint, then the whole test suite
	$(PY) -m pytest tests -q $(PYTEST_ARGS)

bench: install      ## timing goals, each as a ratio against a baseline measured in the same run
	$(PY) bench/dicom_decode.py
	$(PY) bench/loader_throughput.py
	$(PY) bench/dataset_scale.py
	$(PY) bench/gpu_step.py
	$(PY) bench/cam_speed.py

clean-demo:
	rm -rf work_dirs/demo data/demo
