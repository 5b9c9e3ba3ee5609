# tinykws entry points. `make run` and `make test` install first; `make install` is idempotent and fast
# when nothing changed (apt packages checked with dpkg, the venv re-installed only when pyproject.toml changes).

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tinykws-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# TTS voices for the offline corpus (festvox-* are festival's English voices in Debian 12); the Cortex-M4
# cross toolchain and QEMU for the firmware (--no-install-recommends keeps them small); PortAudio for the
# microphone demo and a PulseAudio server whose null sink is the tests' virtual microphone; clang with its
# libFuzzer and sanitizer runtimes for the firmware fuzz targets (firmware/fuzz); valgrind for callgrind's
# instruction counts (firmware engine bench, bench/speed.py); gcc with the C library's headers (libc6-dev, only
# recommended by gcc) for the host build of the engine, and python3-venv for .venv/; lld (wasm-ld) to link the
# engine's WebAssembly build with clang, and chromium to test the web page headless. This is the one list: the
# README points here.
APT_PACKAGES := espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox \
	gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
	libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins clang libclang-rt-14-dev valgrind \
	gcc libc6-dev python3-venv lld chromium
PYTHON ?= python3

.PHONY: install apt run keyword test lint clean

# The Kokoro voices (npm kokoro-js, sha256-checked) are fetched once into build/kokoro/ for the [tts] extra.
install: apt $(STAMP)
	@$(BIN)/python -m tinykws.data.kokoro

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt: installing" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# torch is pinned exactly: this spelling takes the CPU wheel; anything looser pulls CUDA builds.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,train,tts]'
	touch $(STAMP)

TASKS := kws12 yes
# How make run trains each shipped model: the flags of its card's `reproduce` command (tests/test_readme.py).
KWS12_TRAIN := --body models/body/body.pt
YES_TRAIN := --body models/body/body.pt --transfer real,running,context,windows

# The whole pipeline; every stage skips work already done, and an interrupted training run resumes.
run: install
	$(BIN)/tinykws data synth
	$(BIN)/tinykws features build
	$(BIN)/tinykws data info $$($(BIN)/python -c "from tinykws.data.layout import default_roots; print(*default_roots())")
	# Feature banks, teacher embeddings (cached, shared by both tasks) and each task's teacher head, on both cores
	# (yes's too, with its stream windows: prepared beside kws12's training, yes had ended 4.8 min after it); then the
	# two students side by side, one torch thread each on the 2 cores: kws12 shows its progress, yes writes
	# build/runs/yes.log. A finished run is skipped, an interrupted one resumes. Both start from the shipped speech
	# body (kws12: +1 point over random weights on 2 seeds, _unknown_ +12); yes also learns from context windows
	# (a word right after another: its streamed misses 22.2 -> 17.8 % on 2 seeds, README) and from windows of
	# streams of its training speakers (data/stream_windows.py: fewer misses at every false-accept rate, README).
	@prepare() { [ -f build/runs/$$1/model.npz ] || $(BIN)/tinykws train --task $$1 --prepare-only $$2; }; \
	prepare kws12 "$(KWS12_TRAIN)" && prepare yes "$(YES_TRAIN)"
	@train() { d=build/runs/$$1; \
		if [ -f $$d/model.npz ]; then echo "train $$1: done ($$d/model.npz)"; \
		elif [ -f $$d/checkpoint.pt ]; then $(BIN)/tinykws train --task $$1 --resume $$2; \
		else $(BIN)/tinykws train --task $$1 $$2; fi; }; \
	mkdir -p build/runs; \
	train yes "--no-progress $(YES_TRAIN)" > build/runs/yes.log 2>&1 & \
	pid=$$!; \
	train kws12 "$(KWS12_TRAIN)"; k=$$?; wait $$pid; y=$$?; tail -n 4 build/runs/yes.log; \
	[ $$k = 0 ] && [ $$y = 0 ] || { echo "make run: training failed (yes: see build/runs/yes.log)" >&2; exit 1; }
	$(BIN)/python -m tinykws.train.summary
	# The wake word's detector (window, threshold, refractory) tuned on validation-speaker streams.
	$(BIN)/tinykws stream-eval --task yes --model build/runs/yes/model.npz --apply --no-progress
	@for t in $(TASKS); do \
		$(BIN)/tinykws export --task $$t --model build/runs/$$t/model.npz --c-dir build/export/$$t \
			--tflite build/export/$$t/$$t.tflite || exit 1; \
	done
	$(BIN)/tinykws firmware build --board host --model build/runs/yes/model.npz --task yes
	$(BIN)/tinykws firmware build --board mps2-an386 --model build/runs/yes/model.npz --task yes
	$(BIN)/tinykws firmware size --board mps2-an386 --model build/runs/yes/model.npz --task yes
	$(BIN)/python -m tinykws.firmware.selfcheck --task yes --model build/runs/yes/model.npz

# A custom wake word end to end: `make keyword WORD=marvin` (or a phrase: WORD="hey tiny"). Its positives
# are synthesised by the local voices and Kokoro's; real clips of it are never trained on, only measured on.
keyword: install
	@test -n "$(WORD)" || { echo 'usage: make keyword WORD="word or short phrase"' >&2; exit 2; }
	$(BIN)/tinykws data synth
	$(BIN)/tinykws features build
	@t=$$($(BIN)/python -c 'import sys; from tinykws.data.layout import keyword_task; print(keyword_task(sys.argv[1]))' \
		"$(WORD)") || exit 2; d=build/runs/$$t; set -e; \
	if [ -f $$d/model.npz ]; then echo "train $$t: done ($$d/model.npz)"; \
	elif [ -f $$d/checkpoint.pt ]; then $(BIN)/tinykws train --keyword "$(WORD)" --resume; \
	else $(BIN)/tinykws train --keyword "$(WORD)"; fi; \
	$(BIN)/tinykws stream-eval --task $$t --model $$d/model.npz --apply --no-progress; \
	$(BIN)/tinykws export --task $$t --model $$d/model.npz --c-dir build/export/$$t --tflite build/export/$$t/$$t.tflite; \
	$(BIN)/tinykws firmware build --board host --model $$d/model.npz --task $$t; \
	$(BIN)/tinykws firmware build --board mps2-an386 --model $$d/model.npz --task $$t; \
	$(BIN)/tinykws firmware size --board mps2-an386 --model $$d/model.npz --task $$t

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build
