// World A (wasi:messaging@0.1.0-draft / messaging) in C: on-receive upper-cases the event's data
// (ASCII) and publishes the event to topic `out` on broker `default`; an event without data is
// refused with err(other("empty message")). Built with clang for wasm32, no libc; the canonical
// ABI is written out by hand (there is no wit-bindgen here), its layouts checked by _Static_assert.
#include <stddef.h>
#include <stdint.h>

typedef struct { const uint8_t *ptr; uint32_t len; } str_t;
typedef struct { uint8_t is_some; str_t val; } opt_str_t;   /* option<string>, option<list<u8>> */
typedef struct { str_t key, value; } kv_t;
typedef struct { uint8_t is_some; const kv_t *ptr; uint32_t len; } opt_kvs_t;
typedef struct {
  str_t specversion, ty, source, id;
  opt_str_t data, datacontenttype, dataschema, subject, time;
  opt_kvs_t extensions;
} event_t;
typedef struct { uint8_t tag; str_t val; } variant_str_t;    /* channel, error */
typedef struct { int32_t broker; variant_str_t channel; event_t event; } publish_args_t;
typedef struct { uint8_t is_err; union { int32_t handle; variant_str_t err; } u; } result_handle_t;
typedef struct { uint8_t is_err; variant_str_t err; } result_unit_t;

_Static_assert(sizeof(event_t) == 104, "event layout");
_Static_assert(sizeof(publish_args_t) == 120, "publish args layout");
_Static_assert(sizeof(result_handle_t) == 16 && sizeof(result_unit_t) == 16, "result layout");

enum { CHANNEL_QUEUE = 0, CHANNEL_TOPIC = 1 };
enum { ERROR_TIMEOUT = 0, ERROR_CONNECTION = 1, ERROR_PERMISSION_DENIED = 2, ERROR_OTHER = 3 };

/* publish's 28 flat parameters exceed the ABI's 16: it takes a pointer to its arguments. */
__attribute__((import_module("wasi:messaging/producer@0.1.0-draft"), import_name("publish")))
extern void wasi_publish(const publish_args_t *args, result_unit_t *ret);
__attribute__((import_module("wasi:messaging/messaging-types@0.1.0-draft"), import_name("[static]broker.open")))
extern void wasi_broker_open(const uint8_t *name, uint32_t len, result_handle_t *ret);

/* No libc: struct copies are lowered to memcpy, so here is one. */
__attribute__((no_builtin("memcpy")))
void *memcpy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

/* Bump allocator: the host writes each call's arguments with it; reset after every call. */
extern uint8_t __heap_base;
static uintptr_t heap_top = 0;

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  if (heap_top == 0) heap_top = (uintptr_t)&__heap_base;
  uintptr_t p = (heap_top + align - 1) & ~(uintptr_t)(align - 1);
  uintptr_t end = p + new_size;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535u) / 65536u) == (size_t)-1) __builtin_trap();
  heap_top = end;
  for (size_t i = 0; old != NULL && i < old_size && i < new_size; i++) ((uint8_t *)p)[i] = ((const uint8_t *)old)[i];
  return (void *)p;
}

#define LIT(s) ((str_t){(const uint8_t *)(s), sizeof(s) - 1})

static int32_t broker = -1;
static result_unit_t result;

__attribute__((export_name("wasi:messaging/handler@0.1.0-draft#on-receive")))
result_unit_t *on_receive(const event_t *e) {
  result.is_err = 0;
  if (!e->data.is_some || e->data.val.len == 0) {
    result.is_err = 1;
    result.err = (variant_str_t){ERROR_OTHER, LIT("empty message")};
    return &result;
  }
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
  /* the data was written into our memory for this call: change it where it is */
  uint8_t *d = (uint8_t *)e->data.val.ptr;
  for (uint32_t i = 0; i < e->data.val.len; i++) if (d[i] >= 'a' && d[i] <= 'z') d[i] -= 32;

  publish_args_t args = {.broker = broker, .channel = {CHANNEL_TOPIC, LIT("out")}, .event = *e};
  wasi_publish(&args, &result);
  return &result;
}

__attribute__((export_name("cabi_post_wasi:messaging/handler@0.1.0-draft#on-receive")))
void post_on_receive(result_unit_t *ret) {
  (void)ret;
  heap_top = (uintptr_t)&__heap_base;
}
