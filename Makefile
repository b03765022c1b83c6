# pg_realtime: PostgreSQL extension (triggers + listener worker) and the
# standalone relay executable, built with PGXS.
#
#   make && make install          build and install (install needs root)
#   make installcheck             pg_regress + isolation against a running server
#   make unit                     C unit tests of the relay modules
#   test/run.sh                   every test on a throwaway cluster (see README)

EXTENSION = pg_realtime
MODULE_big = pg_realtime

# src/trigger/ is the trigger side, src/relay/ the relay, which never
# includes postgres.h so that it also links into the standalone executable,
# and src/host/ the relay's two hosts: the background worker (in the module)
# and pg_realtime_relay.
EXT_SRCS = src/pg_realtime.c $(wildcard src/trigger/*.c) src/host/worker.c
RELAY_SRCS = $(wildcard src/relay/*.c)
RELAY_OBJS = $(RELAY_SRCS:.c=.o)
OBJS = $(EXT_SRCS:.c=.o) $(RELAY_OBJS)

DATA = $(wildcard sql/pg_realtime--*.sql)
PGFILEDESC = "pg_realtime - Appwrite-compatible realtime events"

REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/pg_realtime--%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=pg_realtime
ISOLATION = $(patsubst specs/%.spec,%,$(wildcard specs/*.spec))

JSONC_CFLAGS := $(shell pkg-config --cflags json-c)
JSONC_LIBS := $(shell pkg-config --libs json-c)
ZLIB_CFLAGS := $(shell pkg-config --cflags zlib)
ZLIB_LIBS := $(shell pkg-config --libs zlib)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

WARNINGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
PG_CFLAGS = $(WARNINGS) $(EXTRA_CFLAGS)
PG_CPPFLAGS = -I$(libpq_srcdir) -Isrc -Isrc/relay $(JSONC_CFLAGS) $(ZLIB_CFLAGS)
SHLIB_LINK = $(libpq) $(JSONC_LIBS) $(ZLIB_LIBS) -lcrypto
EXTRA_CLEAN = pg_realtime_relay src/host/relay_main.o test/unit/*_test test/unit/*.o test/fuzz/*_fuzz

include $(PGXS)

# PGXS does not track header dependencies; every object depends on every
# header of the project, which is small enough for that to cost nothing
$(OBJS) src/host/relay_main.o: $(wildcard src/*/*.h)

# the standalone relay: same relay objects, a different host
all: pg_realtime_relay

pg_realtime_relay: src/host/relay_main.o $(RELAY_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -L$(libdir) -lpq $(JSONC_LIBS) $(ZLIB_LIBS) -lcrypto $(EXTRA_LDFLAGS)

install: install-relay
install-relay: pg_realtime_relay
	$(INSTALL_PROGRAM) pg_realtime_relay '$(DESTDIR)$(bindir)/pg_realtime_relay'

# C unit tests of the relay modules (no server needed)
UNIT_SRCS = $(wildcard test/unit/*_test.c)
UNIT_BINS = $(UNIT_SRCS:.c=)

test/unit/%_test: test/unit/%_test.c test/unit/unit.o $(RELAY_OBJS)
	$(CC) $(CFLAGS) $(CPPFLAGS) -o $@ $^ $(JSONC_LIBS) $(ZLIB_LIBS) -L$(libdir) -lpq -lcrypto

test/unit/unit.o: test/unit/unit.c test/unit/unit.h
	$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

unit: $(UNIT_BINS)
	@test/unit/run.sh $(UNIT_BINS)

.PHONY: unit install-relay
