# pcc: `make test` and `make demo` set everything up themselves (idempotent).
PY      := .venv/bin/python
PYTEST  := .venv/bin/pytest
CC      ?= cc
CFLAGS_CORE := -std=c11 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Wshadow -Wconversion \
	-Wno-unused-parameter -Wno-missing-field-initializers -D_GNU_SOURCE -Icsrc/include -pthread
PKGS    := $(shell pkg-config --exists msgpack-c && echo msgpack-c || echo msgpack) libcrypto openblas libseccomp \
	tss2-esys tss2-mu tss2-tctildr
# pkg-config name -> Debian package, for the error when one is missing (the build fails closed).
DEB_libcrypto := libssl-dev
DEB_msgpack-c := libmsgpack-dev
DEB_msgpack   := libmsgpack-dev
DEB_openblas  := libopenblas-dev
DEB_libseccomp := libseccomp-dev
DEB_tss2-esys := libtss2-dev
DEB_tss2-mu   := libtss2-dev
DEB_tss2-tctildr := libtss2-dev
CORE_SRC := $(shell find csrc -name '*.c' -not -path 'csrc/py/*' -not -path '*/fuzz/*' -not -path '*/tests/*' 2>/dev/null | sort)
CORE_OBJ := $(patsubst csrc/%.c,build/core/%.o,$(CORE_SRC))
ASAN_LIBS = $(shell $(CC) -print-file-name=libasan.so):$(shell $(CC) -print-file-name=libubsan.so)

.PHONY: setup test test-fast demo asan lib ctest fuzz fuzz-cc fuzz-build bench bench-venv clean clean-core check-pkgs

setup:
	@scripts/setup.sh

test: setup
	$(MAKE) --no-print-directory ctest
	$(PYTEST) -q tests

test-fast: setup
	$(PYTEST) -q -m "not slow" tests

demo: setup
	$(PY) -m pcc.demo

bench: setup bench-venv
	$(PY) benchmarks/bench_crypto.py
	$(PY) benchmarks/bench_tlog.py
	$(PY) benchmarks/bench_llm.py

# Every C library the core needs, found by pkg-config, or an error naming its Debian package.
check-pkgs:
	@for pd in $(foreach p,$(PKGS),$(p)=$(DEB_$(p))); do p=$${pd%%=*}; \
	  pkg-config --exists $$p || { echo "pcc build error: $$p not found by pkg-config:" \
	    "install it with \`apt-get install $${pd#*=}\`" >&2; exit 1; }; done

# The LLM benchmark's baseline: llama-cpp-python in its own venv (.bench-venv, ignored by git),
# compiled from source for AVX2/AVX-512 (VNNI, VBMI) with AMX off, niced and on one core so it
# does not starve a shared machine (about half an hour there).
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \
	-DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DGGML_BLAS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAVA_BUILD=OFF
bench-venv: .bench-venv/.done
.bench-venv/.done:
	python3 -m venv .bench-venv
	.bench-venv/bin/pip install -q numpy
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=1 nice -n 19 \
	  .bench-venv/bin/pip install -q --no-binary llama-cpp-python llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

# The C core alone as a static library (no Python), for sanitizers and fuzzers.
lib: build/libpcc.a
build/core/%.o: csrc/%.c $(wildcard csrc/include/pcc/*.h) | check-pkgs
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(CFLAGS_EXTRA) $(shell pkg-config --cflags $(PKGS)) -c $< -o $@
build/libpcc.a: $(CORE_OBJ)
	ar rcs $@ $^

# C tests of the core (csrc/tests/test_*.c, one program each), linked against the static
# library only (no Python); each prints "<name>: all passed" or exits non-zero.
CTESTS := $(patsubst csrc/tests/%.c,build/%,$(sort $(wildcard csrc/tests/test_*.c)))
ctest: $(CTESTS)
	@set -e; for t in $(CTESTS); do $$t; done
build/test_%: csrc/tests/test_%.c csrc/tests/ctest.h build/libpcc.a
	$(CC) $(CFLAGS_CORE) $(CFLAGS_EXTRA) $< build/libpcc.a $(shell pkg-config --libs $(PKGS)) -lm -o $@

# ASan + UBSan: the C tests (leak checking on, any UBSan report fatal), then a sanitized build of
# the extension in build/asan running the Python tests.
# - detect_leaks=0 for Python only: the interpreter's own allocations would drown the report.
# - handle_segv=0:handle_abort=0: tests/test_secure.py runs children that must die of SIGSEGV
#   (a guard page) or SIGABRT (a smashed canary) and checks the signal; ASan's handlers would
#   turn them into an ASan report and exit code 1 instead. Real faults still kill the run.
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan: setup
	$(MAKE) clean-core && $(MAKE) ctest CFLAGS_EXTRA="$(SANITIZE)"
	$(MAKE) clean-core
	rm -rf build/asan && mkdir -p build/asan
	PCC_SANITIZE=1 $(PY) setup.py -q build_ext --build-lib build/asan --build-temp build/asan-tmp --force
	find pcc \( -name '*.py' -o -name '*.pyi' -o -name py.typed \) -not -path '*/__pycache__/*' \
	  -exec cp --parents {} build/asan/ \;
	cd build/asan && LD_PRELOAD=$(ASAN_LIBS) ASAN_OPTIONS=detect_leaks=0:handle_segv=0:handle_abort=0 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 PYTHONPATH=$(CURDIR)/build/asan \
	  $(CURDIR)/$(PYTEST) -q -p no:cacheprovider -m "not slow" --rootdir=$(CURDIR) $(CURDIR)/tests

# libFuzzer harnesses (csrc/fuzz/fuzz_*.c) on the core compiled with clang, ASan and UBSan into
# build/fuzz/; `make fuzz` builds them and runs each for FUZZ_SECONDS on a scratch corpus seeded
# from csrc/fuzz/corpus/<name>/ (new inputs land in build/fuzz/corpus/<name>/, crashes in
# build/fuzz/crash-*). FUZZERS=bhttp picks some. Needs clang (`apt-get install clang`; not needed
# by `make test`): without it the target stops with that hint.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZERS      ?= $(patsubst csrc/fuzz/fuzz_%.c,%,$(sort $(wildcard csrc/fuzz/fuzz_*.c)))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -O1 -g -Wall -Wextra -Wshadow -Wconversion -Wno-unused-parameter \
	-Wno-missing-field-initializers -D_GNU_SOURCE -Icsrc/include -pthread $(FUZZ_SAN) \
	$(shell pkg-config --cflags $(PKGS))
FUZZ_OBJ     := $(patsubst csrc/%.c,build/fuzz/core/%.o,$(CORE_SRC))
build/fuzz/core/%.o: csrc/%.c $(wildcard csrc/include/pcc/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/libpcc.a: $(FUZZ_OBJ)
	ar rcs $@ $^
build/fuzz/fuzz_%: csrc/fuzz/fuzz_%.c build/fuzz/libpcc.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libpcc.a \
	  $(shell pkg-config --libs $(PKGS)) -lm -o $@
fuzz-cc:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
	  echo "make fuzz needs clang (libFuzzer and its sanitizers): apt-get install clang" >&2; \
	  exit 1; }
fuzz-build: fuzz-cc $(addprefix build/fuzz/fuzz_,$(FUZZERS))
fuzz: fuzz-build
	@set -e; for f in $(FUZZERS); do \
	  mkdir -p build/fuzz/corpus/$$f; \
	  echo "fuzz_$$f: $(FUZZ_SECONDS)s"; \
	  dict=""; [ -f csrc/fuzz/$$f.dict ] && dict="-dict=csrc/fuzz/$$f.dict"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    build/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/ $$dict build/fuzz/corpus/$$f csrc/fuzz/corpus/$$f; \
	done

clean-core:
	rm -rf build/core build/libpcc.a $(CTESTS)

clean:
	rm -rf build pcc/*.so *.egg-info
