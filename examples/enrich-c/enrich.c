// World A (wasi:messaging@0.1.0-draft / messaging) in C, built with Debian's clang for wasm32,
// no libc. There is no wit-bindgen on these machines, so the canonical ABI is written out by hand
// below; the struct layouts are the ABI's (natural alignment on wasm32) and are checked
// by _Static_assert.
//
// What it does: reads the numeric field "amount" of the JSON object in the event's data,
// publishes the object enriched with "tier": "large" (amount >= 1000) or "small" to topic
// `orders.enriched`, with type org.wasmsg.order.enriched and extension enriched-by=enrich-c.
// Data without a numeric "amount" is refused with err(other(...)).
#include <stddef.h>
#include <stdint.h>

typedef struct { const uint8_t *ptr; uint32_t len; } str_t;
typedef struct { uint8_t is_some; str_t val; } opt_str_t;            /* option<string>, option<list<u8>> */
typedef struct { str_t key, value; } kv_t;
typedef struct { uint8_t is_some; const kv_t *ptr; uint32_t len; } opt_kvs_t;
typedef struct {
  str_t specversion, ty, source, id;
  opt_str_t data, datacontenttype, dataschema, subject, time;
  opt_kvs_t extensions;
} event_t;
typedef struct { uint8_t tag; str_t val; } variant_str_t;             /* channel, error */
typedef struct { int32_t broker; variant_str_t channel; event_t event; } publish_args_t;
typedef struct { uint8_t is_err; union { int32_t handle; variant_str_t err; } u; } result_handle_t;
typedef struct { uint8_t is_err; variant_str_t err; } result_unit_t;

_Static_assert(sizeof(event_t) == 104, "event layout");
_Static_assert(sizeof(publish_args_t) == 120, "publish args layout");
_Static_assert(sizeof(result_handle_t) == 16 && sizeof(result_unit_t) == 16, "result layout");

enum { CHANNEL_QUEUE = 0, CHANNEL_TOPIC = 1 };
enum { ERROR_TIMEOUT = 0, ERROR_CONNECTION = 1, ERROR_PERMISSION_DENIED = 2, ERROR_OTHER = 3 };

/* 26 flat parameters exceed the ABI's 16, so publish takes a pointer to its arguments. */
__attribute__((import_module("wasi:messaging/producer@0.1.0-draft"), import_name("publish")))
extern void wasi_publish(const publish_args_t *args, result_unit_t *ret);
__attribute__((import_module("wasi:messaging/messaging-types@0.1.0-draft"), import_name("[static]broker.open")))
extern void wasi_broker_open(const uint8_t *name, uint32_t len, result_handle_t *ret);

/* No libc: the compiler lowers struct copies to memcpy, so here is one (kept from being turned
   back into a call to itself by no_builtin). */
__attribute__((no_builtin("memcpy")))
void *memcpy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

/* ---- bump allocator: everything a call allocates is freed by the post-return hook ---- */
extern uint8_t __heap_base;
static uintptr_t heap_top = 0;

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  if (heap_top == 0) heap_top = (uintptr_t)&__heap_base;
  uintptr_t p = (heap_top + align - 1) & ~(uintptr_t)(align - 1);
  uintptr_t end = p + new_size;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535u) / 65536u) == (size_t)-1) {
    __builtin_trap();
  }
  heap_top = end;
  if (old != NULL) {
    const uint8_t *src = old;
    uint8_t *dst = (uint8_t *)p;
    for (size_t i = 0; i < old_size && i < new_size; i++) dst[i] = src[i];
  }
  return (void *)p;
}

#define LIT(s) ((str_t){(const uint8_t *)(s), sizeof(s) - 1})

static int32_t broker = -1;
static result_unit_t result;
static const kv_t extension = {{(const uint8_t *)"enriched-by", 11}, {(const uint8_t *)"enrich-c", 8}};

static result_unit_t *fail(str_t why) {
  result.is_err = 1;
  result.err.tag = ERROR_OTHER;
  result.err.val = why;
  return &result;
}

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Finds `"amount"` followed by `:` and an integer; returns 1 and the value when found. */
static int find_amount(const uint8_t *s, uint32_t n, int64_t *out) {
  static const char key[] = "\"amount\"";
  const uint32_t klen = sizeof(key) - 1;
  for (uint32_t i = 0; i + klen <= n; i++) {
    uint32_t k = 0;
    while (k < klen && s[i + k] == (uint8_t)key[k]) k++;
    if (k != klen) continue;
    uint32_t j = i + klen;
    while (j < n && is_space(s[j])) j++;
    if (j >= n || s[j] != ':') continue;
    j++;
    while (j < n && is_space(s[j])) j++;
    int neg = 0;
    if (j < n && s[j] == '-') { neg = 1; j++; }
    if (j >= n || s[j] < '0' || s[j] > '9') return 0;
    int64_t v = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9') v = v * 10 + (s[j++] - '0');
    *out = neg ? -v : v;
    return 1;
  }
  return 0;
}

__attribute__((export_name("wasi:messaging/handler@0.1.0-draft#on-receive")))
result_unit_t *on_receive(const event_t *e) {
  result.is_err = 0;
  if (!e->data.is_some) return fail(LIT("event has no data"));
  const uint8_t *d = e->data.val.ptr;
  uint32_t n = e->data.val.len;
  while (n > 0 && is_space(d[n - 1])) n--;
  if (n < 2 || d[0] != '{' || d[n - 1] != '}') return fail(LIT("event data is not a JSON object"));
  int64_t amount;
  if (!find_amount(d, n, &amount)) return fail(LIT("event data has no numeric field 'amount'"));

  if (broker < 0) {
    result_handle_t opened;
    wasi_broker_open((const uint8_t *)"default", 7, &opened);
    if (opened.is_err) {
      result.is_err = 1;
      result.err = opened.u.err;
      return &result;
    }
    broker = opened.u.handle;
  }

  /* {...} → {..., "tier":"large"} (or "small"); an empty object gets no leading comma. */
  const char *tier = amount >= 1000 ? ",\"tier\":\"large\"}" : ",\"tier\":\"small\"}";
  uint32_t tlen = 16;
  int empty = 1;
  for (uint32_t i = 1; i + 1 < n; i++) if (!is_space(d[i])) { empty = 0; break; }
  uint8_t *out = cabi_realloc(NULL, 0, 1, n - 1 + tlen);
  uint32_t len = 0;
  for (uint32_t i = 0; i + 1 < n; i++) out[len++] = d[i];
  for (uint32_t i = empty ? 1 : 0; i < tlen; i++) out[len++] = (uint8_t)tier[i];

  publish_args_t args = {
    .broker = broker,
    .channel = {CHANNEL_TOPIC, LIT("orders.enriched")},
    .event = *e,
  };
  args.event.ty = LIT("org.wasmsg.order.enriched");
  args.event.data = (opt_str_t){1, {out, len}};
  args.event.datacontenttype = (opt_str_t){1, LIT("application/json")};
  args.event.extensions = (opt_kvs_t){1, &extension, 1};
  wasi_publish(&args, &result);
  return &result;
}

__attribute__((export_name("cabi_post_wasi:messaging/handler@0.1.0-draft#on-receive")))
void post_on_receive(result_unit_t *ret) {
  (void)ret;
  heap_top = (uintptr_t)&__heap_base;
}
