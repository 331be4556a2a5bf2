/*
 * dm_config_parse_value: every type with valid and malformed inputs.
 *
 * Expected verdicts (config.h states the forms):
 *   INT       decimal, optionally negative, inside "lo..hi" when given;
 *   BOOL      1/0, yes/no, true/false, on/off, any case;
 *   SIZE      number with optional K/M/G/T suffix (powers of 1024), any case;
 *   DURATION  number with ns/us/ms/s/m, a plain number is seconds;
 *   ENUM      one of the '|'-separated choices, any case, gives its index;
 *   STRING    at most 255 bytes.
 * Every rejection returns DM_ERR_CONFIG and leaves *out untouched.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "config.h"

#define SENTINEL_U64 0x5a5a5a5a5a5a5a5aull
#define SENTINEL_INT 0x5a5a5a5a
#define SENTINEL_LONG 0x5a5a5a5aL

static const char *type_name(dm_config_type_t t)
{
    static const char *const names[] = { "INT", "BOOL", "SIZE", "DURATION", "ENUM", "STRING" };

    return (unsigned)t < 6 ? names[t] : "?";
}

static void ok_u64(dm_config_type_t type, const char *text, uint64_t want)
{
    uint64_t v = SENTINEL_U64;
    dm_status_t st = dm_config_parse_value(type, "", text, &v);

    CHECK(st == DM_OK && v == want, "%s \"%s\": status %s value %llu, want %llu", type_name(type),
          text, dm_status_name(st), (unsigned long long)v, (unsigned long long)want);
}

static void bad_u64(dm_config_type_t type, const char *text)
{
    uint64_t v = SENTINEL_U64;
    dm_status_t st = dm_config_parse_value(type, "", text, &v);

    CHECK(st == DM_ERR_CONFIG, "%s \"%s\" accepted as %llu", type_name(type), text,
          (unsigned long long)v);
    CHECK(v == SENTINEL_U64, "%s \"%s\": output written on error", type_name(type), text);
}

static void ok_long(const char *range, const char *text, long want)
{
    long v = SENTINEL_LONG;
    dm_status_t st = dm_config_parse_value(DM_CONFIG_INT, range, text, &v);

    CHECK(st == DM_OK && v == want, "INT [%s] \"%s\": status %s value %ld, want %ld",
          range ? range : "(null)", text, dm_status_name(st), v, want);
}

static void bad_long(const char *range, const char *text)
{
    long v = SENTINEL_LONG;
    dm_status_t st = dm_config_parse_value(DM_CONFIG_INT, range, text, &v);

    CHECK(st == DM_ERR_CONFIG, "INT [%s] \"%s\" accepted as %ld", range ? range : "(null)", text,
          v);
    CHECK(v == SENTINEL_LONG, "INT \"%s\": output written on error", text);
}

static void ok_int(dm_config_type_t type, const char *choices, const char *text, int want)
{
    int v = SENTINEL_INT;
    dm_status_t st = dm_config_parse_value(type, choices, text, &v);

    CHECK(st == DM_OK && v == want, "%s \"%s\": status %s value %d, want %d", type_name(type),
          text, dm_status_name(st), v, want);
}

static void bad_int(dm_config_type_t type, const char *choices, const char *text)
{
    int v = SENTINEL_INT;
    dm_status_t st = dm_config_parse_value(type, choices, text, &v);

    CHECK(st == DM_ERR_CONFIG, "%s \"%s\" accepted as %d", type_name(type), text, v);
    CHECK(v == SENTINEL_INT, "%s \"%s\": output written on error", type_name(type), text);
}

static void check_int(void)
{
    ok_long("", "0", 0);
    ok_long("", "42", 42);
    ok_long("", "-7", -7);
    ok_long(NULL, "123", 123);
    ok_long("", "9223372036854775807", 9223372036854775807L);
    ok_long("-1..16777215", "-1", -1);
    ok_long("-1..16777215", "16777215", 16777215);
    ok_long("0..16777216", "16777216", 16777216);
    bad_long("-1..16777215", "-2");
    bad_long("-1..16777215", "16777216");
    bad_long("0..10", "11");
    bad_long("", "");
    bad_long("", "abc");
    bad_long("", "12abc");
    bad_long("", "1.5");
    bad_long("", "4K");
    bad_long("", "-");
    bad_long("", "99999999999999999999999");
    bad_long("", "5 ");
}

static void check_bool(void)
{
    static const char *const yes[] = { "1", "yes", "YES", "Yes", "true", "TRUE", "on", "On" };
    static const char *const no[] = { "0", "no", "NO", "false", "False", "off", "OFF" };
    static const char *const bad[] = { "", "2", "-1", "maybe", "yess", "tru", "onn", "yes ",
                                       " no", "10" };

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        ok_int(DM_CONFIG_BOOL, "", yes[i], 1);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        ok_int(DM_CONFIG_BOOL, "", no[i], 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bad_int(DM_CONFIG_BOOL, "", bad[i]);
    }
}

static void check_size(void)
{
    ok_u64(DM_CONFIG_SIZE, "0", 0);
    ok_u64(DM_CONFIG_SIZE, "4096", 4096);
    ok_u64(DM_CONFIG_SIZE, "64K", 64ull << 10);
    ok_u64(DM_CONFIG_SIZE, "64k", 64ull << 10);
    ok_u64(DM_CONFIG_SIZE, "2M", 2ull << 20);
    ok_u64(DM_CONFIG_SIZE, "2m", 2ull << 20);
    ok_u64(DM_CONFIG_SIZE, "1G", 1ull << 30);
    ok_u64(DM_CONFIG_SIZE, "3T", 3ull << 40);
    ok_u64(DM_CONFIG_SIZE, "1KiB", 1ull << 10);
    ok_u64(DM_CONFIG_SIZE, "8MB", 8ull << 20);
    ok_u64(DM_CONFIG_SIZE, "1.5K", 1536);
    ok_u64(DM_CONFIG_SIZE, "16777215T", 16777215ull << 40); /* just below 2^64 */
    bad_u64(DM_CONFIG_SIZE, "");
    bad_u64(DM_CONFIG_SIZE, "K");
    bad_u64(DM_CONFIG_SIZE, "-1");
    bad_u64(DM_CONFIG_SIZE, "-4K");
    bad_u64(DM_CONFIG_SIZE, "12Q");
    bad_u64(DM_CONFIG_SIZE, "1KK");
    bad_u64(DM_CONFIG_SIZE, "1 K");
    bad_u64(DM_CONFIG_SIZE, " 1K");
    bad_u64(DM_CONFIG_SIZE, "1K ");
    bad_u64(DM_CONFIG_SIZE, "big");
    bad_u64(DM_CONFIG_SIZE, "inf");
    bad_u64(DM_CONFIG_SIZE, "nan");
    bad_u64(DM_CONFIG_SIZE, "16777216T"); /* exactly 2^64 */
    bad_u64(DM_CONFIG_SIZE, "99999999999T"); /* > 2^64 */
    bad_u64(DM_CONFIG_SIZE, "18446744073709551616");
}

static void check_duration(void)
{
    ok_u64(DM_CONFIG_DURATION, "100ns", 100);
    ok_u64(DM_CONFIG_DURATION, "10us", 10000);
    ok_u64(DM_CONFIG_DURATION, "500ms", 500000000ull);
    ok_u64(DM_CONFIG_DURATION, "2s", 2000000000ull);
    ok_u64(DM_CONFIG_DURATION, "1m", 60000000000ull);
    ok_u64(DM_CONFIG_DURATION, "5", 5000000000ull); /* plain number: seconds */
    ok_u64(DM_CONFIG_DURATION, "0", 0);
    ok_u64(DM_CONFIG_DURATION, "1.5s", 1500000000ull);
    ok_u64(DM_CONFIG_DURATION, "0.25", 250000000ull);
    ok_u64(DM_CONFIG_DURATION, "30S", 30000000000ull);
    ok_u64(DM_CONFIG_DURATION, "250MS", 250000000ull);
    bad_u64(DM_CONFIG_DURATION, "");
    bad_u64(DM_CONFIG_DURATION, "fast");
    bad_u64(DM_CONFIG_DURATION, "s");
    bad_u64(DM_CONFIG_DURATION, "-1s");
    bad_u64(DM_CONFIG_DURATION, "1x");
    bad_u64(DM_CONFIG_DURATION, "1 s");
    bad_u64(DM_CONFIG_DURATION, "1sec");
    bad_u64(DM_CONFIG_DURATION, "10msx");
    bad_u64(DM_CONFIG_DURATION, "2s5ms");
    bad_u64(DM_CONFIG_DURATION, "1e30m");
}

static void check_enum(void)
{
    const char *levels = "error|warn|info|debug|trace";

    ok_int(DM_CONFIG_ENUM, levels, "error", 0);
    ok_int(DM_CONFIG_ENUM, levels, "warn", 1);
    ok_int(DM_CONFIG_ENUM, levels, "WARN", 1);
    ok_int(DM_CONFIG_ENUM, levels, "Info", 2);
    ok_int(DM_CONFIG_ENUM, levels, "dEbUg", 3);
    ok_int(DM_CONFIG_ENUM, levels, "trace", 4);
    ok_int(DM_CONFIG_ENUM, "single", "SINGLE", 0);
    bad_int(DM_CONFIG_ENUM, levels, "");
    bad_int(DM_CONFIG_ENUM, levels, "loud");
    bad_int(DM_CONFIG_ENUM, levels, "war");
    bad_int(DM_CONFIG_ENUM, levels, "warnx");
    bad_int(DM_CONFIG_ENUM, levels, "tracee");
    bad_int(DM_CONFIG_ENUM, levels, "error|warn");
    bad_int(DM_CONFIG_ENUM, levels, "|");
    bad_int(DM_CONFIG_ENUM, levels, " warn");
    bad_int(DM_CONFIG_ENUM, levels, "2");
}

static void check_string(void)
{
    char out[DM_CONFIG_STRING_MAX];
    char text[DM_CONFIG_STRING_MAX + 16];
    dm_status_t st;

    st = dm_config_parse_value(DM_CONFIG_STRING, "", "", out);
    CHECK(st == DM_OK && out[0] == '\0', "empty string: %s", dm_status_name(st));
    st = dm_config_parse_value(DM_CONFIG_STRING, "", "10.0.0.1:4000", out);
    CHECK(st == DM_OK && strcmp(out, "10.0.0.1:4000") == 0, "plain string: %s",
          dm_status_name(st));

    /* 255 bytes fit (with the NUL), 256 do not */
    memset(text, 'a', DM_CONFIG_STRING_MAX - 1);
    text[DM_CONFIG_STRING_MAX - 1] = '\0';
    st = dm_config_parse_value(DM_CONFIG_STRING, "", text, out);
    CHECK(st == DM_OK && strlen(out) == DM_CONFIG_STRING_MAX - 1, "255-byte string: %s",
          dm_status_name(st));

    memset(out, 'z', sizeof(out));
    memset(text, 'b', DM_CONFIG_STRING_MAX);
    text[DM_CONFIG_STRING_MAX] = '\0';
    st = dm_config_parse_value(DM_CONFIG_STRING, "", text, out);
    CHECK(st == DM_ERR_CONFIG, "256-byte string accepted");
    CHECK(out[0] == 'z' && out[DM_CONFIG_STRING_MAX - 1] == 'z', "output written on error");

    memset(text, 'c', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    st = dm_config_parse_value(DM_CONFIG_STRING, "", text, out);
    CHECK(st == DM_ERR_CONFIG, "%zu-byte string accepted", strlen(text));
}

int main(void)
{
    check_int();
    check_bool();
    check_size();
    check_duration();
    check_enum();
    check_string();
    return check_exit("test_config_parse");
}
