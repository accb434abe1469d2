# envd + agentd: a distributed DQN learner for CartPole-v1.
#
#   make            build build/envd, build/agentd and the Python client's protobuf module
#   make deps       install the Debian packages the project needs (only the missing ones)
#   make test       deps, build, then every test suite
#   make run        deps, build, start envd on loopback, train agentd until CartPole-v1 is solved
#   make bench      print benchmark figures (never a timed test)
#   make bench-train / bench-act   agentd: steps and seconds to solve over 10 seeds / acting throughput
#   make bench-rollout      agentd over delayed/lossy links and a slow server, sync vs async (QUICK=1)
#   make plot RUN=DIR   DIR/progress.csv of an agentd --logdir -> DIR/learning_curve.png
#   make test-python / bench-python   the Python client's tests / benchmark only
#   make test-conformance   bad requests over a real socket, each with its expected error code
#   make test-faults        envd/agentd killed, checkpoints killed mid-write, clients that never read
#   make soak               64 clients x 64 sessions for SOAK_SECONDS (60), loopback
#   make test-distributed   agentd over two envd hosts in network namespaces, one killed and restarted
#   make test-netem         the user-space delay/jitter/loss/rate rig (tests/netem/) between namespace hosts
#   make test-hostile-flags envd built with CFLAGS="-O3 -march=native -ffp-contract=fast -ffast-math"
#                           in build-hostile/, then the golden set replayed through it
#   make test-skips         the skip rule below, checked on the real suites
#   make test-docker        build the images, train with podman-compose (docker/README.md)
#   make deps-docker        podman, podman-compose, runc, ... and the Debian base images
#   make asan       every test suite built with ASan + UBSan (+ LeakSanitizer) in build-asan/
#   make fuzz       each libFuzzer target (clang) for FUZZ_SECONDS, built in build-fuzz/
#   make fuzz-corpus        regenerate the seed corpora tests/fuzz/corpus/ (gen_corpus.c)
#
# Skips. A test that cannot run here for want of a capability (root, a mount
# or network namespace, libzmq with CURVE) fails the run; ALLOW_SKIP=1 in the
# environment (or `make test ALLOW_SKIP=1`) lets it pass, printing a SKIP
# line. Only a test that needs a third-party package this project cannot
# install (gymnasium) always skips, as a visible pytest skip, never a pass.
# (tests/skip.h, tests/skip_policy.py, tests/distributed/run.sh)
#
# Flags. Library flags come from pkg-config. CFLAGS, CPPFLAGS, LDFLAGS and
# LDLIBS are the user's (empty by default; `make CFLAGS="-O3 -march=native"`
# is fine): they are added to the build's own flags, never replace them.
# OPT (-O2) and DEBUG (-g) are the defaults a user's CFLAGS can override.
# Everything correctness needs is in REQUIRED_CFLAGS, REQUIRED_CPPFLAGS and
# REQUIRED_LDLIBS, placed after the user's flags, so it always wins:
#   FINAL_CFLAGS = $(WARN) $(OPT) $(DEBUG) $(CFLAGS) $(SANITIZE) $(REQUIRED_CFLAGS)
# The environment physics must be bit-exact with Gymnasium (see
# ../shared/docs/cartpole-v1-semantics.md, section 7): no fused
# multiply-add (-ffp-contract=off even under -march=native), no fast-math
# (-fno-fast-math -fno-unsafe-math-optimizations undo -ffast-math,
# -funsafe-math-optimizations, -fassociative-math, -freciprocal-math,
# -fno-signed-zeros, -ffinite-math-only; the driver then also leaves out
# crtfastmath.o, which would flush denormals to zero), double constants and
# SSE arithmetic where the compiler takes -fno-single-precision-constant,
# -fexcess-precision=standard, -mfpmath=sse. -Ofast cannot be undone that way
# (it still links crtfastmath.o), so it is built as -O3, with a warning.
# `make test-hostile-flags` (in `make test`) proves it.

BUILD    ?= build
CC       ?= cc
PKGS     := libprotobuf-c libuv
PYTHON   ?= /usr/bin/python3

OPT      ?= -O2
DEBUG    ?= -g
CFLAGS   ?=
CPPFLAGS ?=
LDFLAGS  ?=
LDLIBS   ?=
# Sanitizer builds set SANITIZE (and BUILD); it reaches compile and link.
SANITIZE ?=
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter

# $(call cc_takes,FLAG): FLAG if $(CC) accepts it without a warning, else
# nothing (GCC on x86-64 takes the three below; Clang, which `make fuzz`
# uses, only -mfpmath=sse).
cc_takes = $(shell $(CC) -Werror $(1) -x c -c /dev/null -o /dev/null 2>/dev/null && echo $(1))
REQUIRED_CFLAGS := -std=gnu11 -fno-fast-math -fno-unsafe-math-optimizations -ffp-contract=off \
                   $(call cc_takes,-fno-single-precision-constant) \
                   $(call cc_takes,-fexcess-precision=standard) $(call cc_takes,-mfpmath=sse) -MMD -MP
# The project's include paths go before the user's (its headers win),
# _GNU_SOURCE after them (no -U can take it away).
INCLUDES           = -Icommon -Iserver -Iagent -I$(BUILD)/gen
REQUIRED_CPPFLAGS := -D_GNU_SOURCE
REQUIRED_LDLIBS := -lm

# -Ofast is -O3 -ffast-math, and with it in any flags the driver links
# crtfastmath.o whatever follows: built as -O3 instead.
ifneq ($(filter -Ofast,$(OPT) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS)),)
$(warning -Ofast is built as -O3: envd must be bit-exact, and -Ofast implies -ffast-math and flushes denormals to zero)
endif
no_ofast = $(patsubst -Ofast,-O3,$(1))

# FILE_OPT / FILE_CFLAGS / FILE_CPPFLAGS: a file's own flags (target-specific,
# below). FILE_OPT goes before the user's CFLAGS, FILE_CFLAGS after the
# required ones, so it may only hold flags that cannot change a result.
FINAL_CFLAGS   = $(WARN) $(call no_ofast,$(OPT)) $(FILE_OPT) $(DEBUG) $(call no_ofast,$(CFLAGS)) \
                 $(SANITIZE) $(REQUIRED_CFLAGS) $(FILE_CFLAGS)
FINAL_CPPFLAGS = $(INCLUDES) $(call no_ofast,$(CPPFLAGS)) $(REQUIRED_CPPFLAGS) $(FILE_CPPFLAGS)
FINAL_LDFLAGS  = $(call no_ofast,$(LDFLAGS))
FINAL_LDLIBS   = $(LDLIBS) $(REQUIRED_LDLIBS)
# Compile and link commands; a link line ends with $(FINAL_LDLIBS). The
# user's LDFLAGS come first, so the required CFLAGS follow them too.
COMPILE = $(CC) $(FINAL_CPPFLAGS) $(PKG_CFLAGS) $(FINAL_CFLAGS)
LINK    = $(CC) $(FINAL_LDFLAGS) $(FINAL_CFLAGS)

# libzmq is Debian's 4.3.4 source with envd's patches, built static into
# build-libzmq/ (third_party/libzmq/README.md says why).
ZMQ_DIR  := build-libzmq
ZMQ_LIB  := $(ZMQ_DIR)/prefix/lib/libzmq.a
PKG_CFLAGS = -I$(ZMQ_DIR)/prefix/include $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(ZMQ_LIB) $(shell pkg-config --libs $(PKGS) libsodium) -lstdc++ -lpthread
CHECK_CFLAGS = $(shell pkg-config --cflags check libcjson)
CHECK_LIBS   = $(shell pkg-config --libs check libcjson)

# Debian 12 packages: build, test and run. `make deps` installs the missing ones.
DEB_PKGS := build-essential pkg-config cmake xz-utils patch libsodium-dev libprotobuf-c-dev protobuf-c-compiler \
            protobuf-compiler libuv1-dev check libcjson-dev libopenblas-dev gnuplot-nox \
            python3 python3-zmq python3-protobuf python3-numpy python3-pytest python3-prometheus-client \
            python3-pip python3-venv python3-setuptools python3-wheel \
            valgrind procps iproute2 curl ca-certificates

PROTOS      := $(wildcard proto/*.proto)
GEN_C       := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
GEN_H       := $(GEN_C:.c=.h)
PY_GEN      := clients/python/envd_client/envd_pb2.py

COMMON_SRC  := $(wildcard common/*.c)
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
AGENT_SRC   := $(filter-out agent/main.c,$(wildcard agent/*.c))
TEST_SRC    := $(wildcard tests/check_*.c)
FUZZ_TARGETS := envd ckpt

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
GEN_OBJ     := $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(GEN_C))
COMMON_OBJ  := $(call obj,$(COMMON_SRC)) $(GEN_OBJ)
SERVER_OBJ  := $(call obj,$(SERVER_SRC))
AGENT_OBJ   := $(call obj,$(AGENT_SRC))
TEST_OBJ    := $(call obj,$(TEST_SRC))
# The fuzz targets without libFuzzer: check_fuzz_replay.c feeds them their corpora.
FUZZ_REPLAY_OBJ := $(call obj,$(patsubst %,tests/fuzz/fuzz_%.c,$(FUZZ_TARGETS)))

BINS := $(BUILD)/envd $(BUILD)/agentd

.PHONY: all deps test check run bench bench-qnet bench-train bench-act clean python plot test-python bench-python \
        asan fuzz fuzz-build fuzz-corpus
.SECONDARY: $(GEN_C) $(GEN_H)
.DEFAULT_GOAL := all

all: $(BINS) python

python: $(PY_GEN)

# ------------------------------------------------------------------ deps
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null | grep -qx installed || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all Debian packages present"; fi

# ---------------------------------------------------------------- libzmq
$(ZMQ_LIB): third_party/libzmq/build.sh third_party/libzmq/envd.patch
	third_party/libzmq/build.sh $(ZMQ_DIR)

# Sources include zmq.h from it, and everything links it.
$(GEN_H): | $(ZMQ_LIB)
$(BINS) $(BUILD)/check_all: $(ZMQ_LIB)

# ------------------------------------------------------------- generated
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iproto $<

$(PY_GEN): proto/envd.proto
	@mkdir -p $(dir $@)
	protoc --python_out=clients/python/envd_client -Iproto $<

# ------------------------------------------------------------------ objects
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(COMPILE) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(COMPILE) $(CHECK_CFLAGS) -Itests -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(COMPILE) -c $< -o $@

# The Q-network's elementwise loops (ReLU, its mask, Adam) vectorize only
# under -O3's cost model: at -O2 the ReLU is a mispredicted branch per
# element and predict runs ~2x slower (bench/bench_qnet.c). Adam's sqrtf
# vectorizes only without errno. Neither flag reassociates or contracts
# anything, so results do not change.
$(call obj,agent/qnet.c): FILE_OPT := -O3
$(call obj,agent/qnet.c): FILE_CFLAGS := -fno-math-errno

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^
$(BUILD)/libenvd.a: $(SERVER_OBJ)
	$(AR) rcs $@ $^
$(BUILD)/libagent.a: $(AGENT_OBJ)
	$(AR) rcs $@ $^

# ---------------------------------------------------------------- programs
$(BUILD)/envd: $(call obj,server/main.c) $(BUILD)/libenvd.a $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS)

$(BUILD)/agentd: $(call obj,agent/main.c) $(BUILD)/libagent.a $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS)

# ------------------------------------------------------------------- tests
# The Check runner collects every `Suite *<name>_suite(void)` in tests/check_*.c.
$(BUILD)/gen/suites.inc: $(TEST_SRC)
	@mkdir -p $(BUILD)/gen
	sed -n 's/^Suite \*\([a-z0-9_]*\)_suite(void)$$/SUITE(\1)/p' $(TEST_SRC) > $@.tmp && mv $@.tmp $@

$(call obj,tests/check_main.c): $(BUILD)/gen/suites.inc

# Fixtures several suites share (tests/fixture_*.c): no suite of their own.
TEST_OBJ += $(call obj,$(wildcard tests/fixture_*.c))

$(call obj,tests/fuzz/fuzz_envd.c): FILE_CPPFLAGS := -DFUZZ_ENTRY=fuzz_envd_one
$(call obj,tests/fuzz/fuzz_ckpt.c): FILE_CPPFLAGS := -DFUZZ_ENTRY=fuzz_ckpt_one
$(BUILD)/check_all: $(TEST_OBJ) $(FUZZ_REPLAY_OBJ) $(BUILD)/libenvd.a $(BUILD)/libagent.a $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) $(FINAL_LDLIBS)

# `make check`: the Check suites only (no deps step). CK_RUN_SUITE=name runs one.
# The benchmarks are built too (not run), so a change that breaks one fails here.
BENCH_BINS = $(BUILD)/bench_qnet $(BUILD)/bench_envd $(BUILD)/bench_rss $(BUILD)/bench_service $(BUILD)/soak
check: all $(BUILD)/check_all $(BENCH_BINS)
	$(BUILD)/check_all

test: deps
	$(MAKE) --no-print-directory check test-python test-conformance test-faults test-hostile-flags \
	  test-skips test-distributed test-netem

# `make test-python`: the Python client's pytest suite against live build/envd processes.
test-python: $(BUILD)/envd $(PY_GEN)
	$(PYTHON) -m pytest -q -rs tests/python

# `make test-conformance`: malformed and abusive requests against a live envd
# with small limits, while a second client's golden episode must not move.
.PHONY: test-conformance test-faults
test-conformance: $(BUILD)/envd $(PY_GEN)
	timeout -k 10 300 $(PYTHON) -m pytest -q -rs tests/conformance

# `make test-hostile-flags`: envd and check_all built in build-hostile/ with
# CFLAGS that break bit-exactness if they win (HOSTILE_CFLAGS), then the
# golden set replayed through both (tests/hostile_flags.sh; ~10-60 s).
HOSTILE_CFLAGS ?= -O3 -march=native -ffp-contract=fast -ffast-math
.PHONY: test-hostile-flags
test-hostile-flags: $(PY_GEN)
	MAKE="$(MAKE)" PYTHON="$(PYTHON)" HOSTILE_CFLAGS="$(HOSTILE_CFLAGS)" tests/hostile_flags.sh

# `make test-skips`: the skip rule itself (tests/skips/): suites that cannot
# run here fail without ALLOW_SKIP=1 and pass, printing SKIP, with it.
.PHONY: test-skips
test-skips: all $(BUILD)/check_all $(BUILD)/netem
	$(PYTHON) -m pytest -q -rs tests/skips

# `make test-faults`: processes killed (envd, agentd, agentd mid-checkpoint)
# and a client that never reads; bounded, ~1-2 minutes.
test-faults: all
	timeout -k 10 300 $(PYTHON) -m pytest -q -rs tests/faults

# `make bench-python`: env steps/s from Python through envd and in-process (~30 s).
bench: bench-python
bench-python: $(BUILD)/envd $(PY_GEN)
	$(PYTHON) bench/bench_python.py --envd $(BUILD)/envd

.PHONY: test-distributed test-docker deps-docker

# Network namespaces as hosts; fails where they cannot be made (ALLOW_SKIP=1: "SKIP: ...", exit 0).
DIST_TIME_LIMIT ?= 150
test-distributed: all
	DIST_TIME_LIMIT=$(DIST_TIME_LIMIT) timeout -k 10 $$(( $(DIST_TIME_LIMIT) + 90 )) tests/distributed/run.sh

# `make test-netem`: the user-space network emulator (tests/netem/): a TUN
# device in a router namespace between namespace hosts; checks the round
# trip against the configured delay and jitter, the lost packets against
# numpy's stream for the seed, the rate, and a golden CartPole-v1 episode
# through envd over a delayed, lossy path (~40 s); then agentd --rollout
# sync's checkpoint, the same bytes clean, at 20 ms +- 5 ms and at 5% loss
# (tests/netem/determinism.sh, ~1 min). The kernels here have no
# sch_netem, so `tc qdisc ... netem` is no option.
.PHONY: test-netem
$(BUILD)/netem: $(call obj,tests/netem/netem.c) $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(FINAL_LDLIBS)

test-netem: $(BUILD)/envd $(BUILD)/agentd $(BUILD)/netem $(PY_GEN)
	timeout -k 10 180 tests/netem/run.sh
	timeout -k 10 240 tests/netem/determinism.sh

# Containers: installs podman & co. and builds the base images on first use.
deps-docker:
	docker/setup.sh

test-docker:
	timeout -k 30 900 docker/test.sh

# ------------------------------------------------------------------ bench
# Benchmarks print figures; none is a timed test. OpenBLAS is linked into
# bench_qnet only, as the yardstick for the plain kernels.
BLAS_CFLAGS = $(shell pkg-config --cflags openblas)
BLAS_LIBS   = $(shell pkg-config --libs openblas)

$(call obj,bench/bench_qnet.c): FILE_CPPFLAGS = $(BLAS_CFLAGS)

$(BUILD)/bench_qnet: $(call obj,bench/bench_qnet.c) $(BUILD)/libagent.a $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(BLAS_LIBS) $(FINAL_LDLIBS)

bench: bench-qnet bench-act bench-train

bench-qnet: $(BUILD)/bench_qnet
	$(BUILD)/bench_qnet

# Env steps and wall-clock to solve CartPole-v1 (or ENV=ID, with its
# defaults) over seeds 1-10 (SEEDS, BUDGET and agentd options via ARGS can
# be changed).
bench-train: all
	bench/bench_train.sh $(if $(ENV),--env-id $(ENV)) $(ARGS)

# Acting throughput of agentd --no-train on 256/1024/4096 sessions.
bench-act: all
	bench/bench_act.sh $(ARGS)

# Rollouts over links with delay, jitter, loss and one slow server (envd
# hosts in network namespaces through build/netem, tests/netem/), sync vs
# async on 2 and 4 hosts: wall and env steps to solve, acting env steps/s;
# acting at 1024 sessions with --groups 1 vs the default beside a Python
# EnvdVectorEnv + numpy MLP baseline; the cost of evaluations at 20 ms;
# a fixed budget with a slow server and at 5% loss, async vs sync.
# Ratios vs same-run baselines; ~11 min, QUICK=1 ~4 min (bench/README.md).
.PHONY: bench-rollout
bench-rollout: all $(BUILD)/netem
	QUICK=$(QUICK) bench/bench_rollout.sh $(ARGS)

# ------------------------------------------------------------------- run
# deps, build, then agent/run.sh: envd on loopback (ENVD_PORT, default
# ephemeral), agentd until solved with --logdir runs/<timestamp> (also
# runs/latest), the summary, the plot; envd is stopped on any exit. Extra
# agentd options: make run ARGS="--seed 3". agent/run.sh exits with
# agentd's status; make turns any failure into its own status 2.
run: deps
	$(MAKE) --no-print-directory all
	agent/run.sh $(if $(ENV),--env-id $(ENV)) $(ARGS)

# -------------------------------------------------------------------- plot
# The learning curve of a run (agent/plot.gp says what it draws).
plot:
	@test -n "$(RUN)" || { echo "usage: make plot RUN=DIR  (an agentd --logdir holding progress.csv)" >&2; exit 2; }
	@test -f "$(RUN)/progress.csv" || { echo "plot: $(RUN)/progress.csv not found" >&2; exit 2; }
	gnuplot -e "run='$(RUN)'" agent/plot.gp
	@echo "plot: wrote $(RUN)/learning_curve.png"

# ------------------------------------------------------------ bench: envd
# bench_envd: latency and batched throughput over tcp and ipc loopback, each
# beside a bare ZeroMQ echo; bench_rss: envd's memory with 1M sessions open;
# bench_service: the request handling alone, in-process, per row.
# Both start build/envd themselves on ephemeral ports / temporary ipc paths.
BENCH_ENVD_OBJ := $(call obj,bench/envproc.c)

$(BUILD)/bench_envd: $(call obj,bench/bench_envd.c) $(BENCH_ENVD_OBJ) $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS) -lpthread

$(BUILD)/bench_rss: $(call obj,bench/bench_rss.c) $(BENCH_ENVD_OBJ) $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS)

$(BUILD)/bench_service: $(call obj,bench/bench_service.c) $(BUILD)/libenvd.a $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS)

.PHONY: bench-envd
bench: bench-envd
bench-envd: $(BUILD)/envd $(BUILD)/bench_envd $(BUILD)/bench_rss $(BUILD)/bench_service
	$(BUILD)/bench_service
	$(BUILD)/bench_envd
	$(BUILD)/bench_rss

# ------------------------------------------------------------------- soak
# 64 clients x 64 sessions for SOAK_SECONDS of mixed single and batched steps,
# every reply checked against a local mirror; lost/mismatched replies or envd
# RSS growth over 5% after warm-up fail it. Loopback only. Not part of `make test`.
SOAK_SECONDS ?= 60
.PHONY: soak
$(BUILD)/soak: $(call obj,bench/soak.c) $(BENCH_ENVD_OBJ) $(BUILD)/libenvd.a $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS) -lpthread

soak: $(BUILD)/envd $(BUILD)/soak
	$(BUILD)/soak --seconds $(SOAK_SECONDS)

# ------------------------------------------------------------ sanitizers
# `make asan`: the whole test suite built with ASan + UBSan in build-asan/;
# the tests run that build's envd and agentd (TEST_BUILD). Any report fails
# the run: UBSan does not recover, ASan exits 23, and LeakSanitizer checks
# every instrumented process at exit, envd and agentd children included.
# Reports also go to build-asan/san/ (log_path), so a child whose exit
# status a test does not look at still fails `make asan`.
ASAN_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:exitcode=23:abort_on_error=0:log_path=$(CURDIR)/build-asan/san/report \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/build-asan/san/report \
           LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
           TEST_BUILD=build-asan
# Instrumented agentd trains ~10x slower: a smaller network, earlier evaluations.
ASAN_DIST_ARGS := --timeout-ms 1000 --retry-max-ms 500 --eval-from 40000 --eval-every 5000
ASAN_MAKE = $(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 SANITIZE="$(ASAN_SANITIZE)"

asan:
	$(ASAN_MAKE) all build-asan/check_all
	rm -rf build-asan/san && mkdir -p build-asan/san
	@rc=0; \
	$(ASAN_ENV) build-asan/check_all || rc=1; \
	$(ASAN_ENV) $(ASAN_MAKE) test-python || rc=1; \
	$(ASAN_ENV) DIST_AGENTD_ARGS="$(ASAN_DIST_ARGS)" $(ASAN_MAKE) DIST_TIME_LIMIT=420 test-distributed || rc=1; \
	if ls build-asan/san/report.* >/dev/null 2>&1; then \
	  echo "asan: sanitizer reports:"; cat build-asan/san/report.*; rc=1; fi; \
	if [ $$rc = 0 ]; then echo "asan: clean"; else echo "asan: FAILED"; fi; exit $$rc

# ------------------------------------------------------------------ fuzz
# `make fuzz`: each target in tests/fuzz/ under libFuzzer (clang, ASan +
# UBSan) for FUZZ_SECONDS, starting from the committed seeds; new inputs
# are kept in build-fuzz/corpus/<target>, crashes in build-fuzz/crash-*.
# Without the engine the same targets replay their corpora in `make check`
# (tests/check_fuzz_replay.c).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_SANITIZE := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz_%,$(FUZZ_TARGETS))

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libenvd.a $(BUILD)/libagent.a $(BUILD)/libcommon.a
	$(CC) $(FINAL_LDFLAGS) $(FINAL_CPPFLAGS) $(PKG_CFLAGS) $(FINAL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS)

fuzz-build:
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) OPT=-O1 SANITIZE="$(FUZZ_SANITIZE)" \
	  $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/crash-$$t- build-fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

$(BUILD)/gen_corpus: $(call obj,tests/fuzz/gen_corpus.c) $(BUILD)/libagent.a $(BUILD)/libcommon.a
	$(LINK) -o $@ $^ $(PKG_LIBS) $(FINAL_LDLIBS)

# Overwrites the generated seeds; regression entries (crash-*) stay.
fuzz-corpus: $(BUILD)/gen_corpus
	mkdir -p tests/fuzz/corpus/envd tests/fuzz/corpus/ckpt
	$(BUILD)/gen_corpus tests/fuzz/corpus/envd tests/fuzz/corpus/ckpt

# ------------------------------------------------------------------- misc
clean:
	rm -rf $(BUILD) build-asan build-fuzz build-hostile $(ZMQ_DIR) $(PY_GEN)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
