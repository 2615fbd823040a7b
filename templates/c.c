// World C (wasi:messaging@0.2.0-draft / messaging, batch delivery) in C: configure() asks for
// channel `in`; handler upper-cases the data (ASCII) of every message of the batch and sends the
// batch to topic `out` on broker `default` with one `send`. Built with clang for wasm32, no libc;
// the canonical ABI is written out by hand (there is no wit-bindgen here), its layouts checked
// by _Static_assert.
#include <stddef.h>
#include <stdint.h>

typedef struct { const uint8_t *ptr; uint32_t len; } str_t;   /* string, list<u8> */
typedef struct { str_t key, value; } kv_t;
typedef struct { uint8_t is_some; const kv_t *ptr; uint32_t len; } opt_kvs_t;
/* format-spec: 0 cloudevents, 1 http, 2 amqp, 3 mqtt, 4 kafka, 5 raw */
typedef struct { str_t data; uint8_t format; opt_kvs_t metadata; } message_t;
typedef struct { const str_t *ptr; uint32_t len; } channels_t;
typedef struct { uint8_t is_err; union { struct { channels_t channels; opt_kvs_t extensions; } ok; int32_t err; } u; } result_config_t;
/* an error is a resource: a guest can only pass on a handle the host gave it */
typedef struct { uint8_t is_err; int32_t handle; } result_handle_t;

_Static_assert(sizeof(message_t) == 24, "message layout");
_Static_assert(sizeof(result_config_t) == 24 && sizeof(result_handle_t) == 8, "result layout");

#define TYPES "wasi:messaging/messaging-types@0.2.0-draft"
__attribute__((import_module(TYPES), import_name("[static]client.connect")))
extern void client_connect(const uint8_t *name, uint32_t len, result_handle_t *ret);
/* the client is passed owned: connect again for each batch */
__attribute__((import_module("wasi:messaging/producer@0.2.0-draft"), import_name("send")))
extern void send(int32_t client, const uint8_t *channel, uint32_t len, const message_t *ms, uint32_t n, result_handle_t *ret);

/* No libc: struct copies may be lowered to memcpy, so here is one. */
__attribute__((no_builtin("memcpy")))
void *memcpy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

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

static const str_t channels[] = {{(const uint8_t *)"in", 2}};
static result_config_t config;
static result_handle_t result;

__attribute__((export_name("wasi:messaging/messaging-guest@0.2.0-draft#configure")))
result_config_t *configure(void) {
  config.is_err = 0;
  config.u.ok.channels = (channels_t){channels, 1};
  config.u.ok.extensions.is_some = 0;
  return &config;
}

__attribute__((export_name("cabi_post_wasi:messaging/messaging-guest@0.2.0-draft#configure")))
void post_configure(result_config_t *ret) { (void)ret; }

__attribute__((export_name("wasi:messaging/messaging-guest@0.2.0-draft#handler")))
result_handle_t *handler(message_t *ms, uint32_t n) {
  /* the batch was written into our memory for this call: change it where it is */
  for (uint32_t m = 0; m < n; m++) {
    uint8_t *d = (uint8_t *)ms[m].data.ptr;
    for (uint32_t i = 0; i < ms[m].data.len; i++) if (d[i] >= 'a' && d[i] <= 'z') d[i] -= 32;
  }
  result_handle_t connected;
  client_connect((const uint8_t *)"default", 7, &connected);
  if (connected.is_err) {
    result = connected;
    return &result;
  }
  send(connected.handle, (const uint8_t *)"out", 3, ms, n, &result);
  return &result;
}

__attribute__((export_name("cabi_post_wasi:messaging/messaging-guest@0.2.0-draft#handler")))
void post_handler(result_handle_t *ret) {
  (void)ret;
  heap_top = (uintptr_t)&__heap_base;
}
