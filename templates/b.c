// World B (wasi:messaging@0.2.0-draft / messaging-core) in C: handle upper-cases the message's
// data (ASCII) and sends the message to topic `out` on broker `default`; an empty message is
// refused with err(other("empty message")). Built with clang for wasm32, no libc; the canonical
// ABI is written out by hand (there is no wit-bindgen here), its layouts checked by _Static_assert.
#include <stddef.h>
#include <stdint.h>

typedef struct { const uint8_t *ptr; uint32_t len; } str_t;  /* string, list<u8> */
typedef struct { uint8_t tag; str_t val; } error_t;           /* variant error */
typedef struct { uint8_t is_err; union { int32_t handle; error_t err; } u; } result_handle_t;
typedef struct { uint8_t is_err; error_t err; } result_unit_t;

_Static_assert(sizeof(result_handle_t) == 16 && sizeof(result_unit_t) == 16, "result layout");
enum { ERROR_TIMEOUT = 0, ERROR_CONNECTION = 1, ERROR_PERMISSION_DENIED = 2, ERROR_OTHER = 3 };

#define TYPES "wasi:messaging/types@0.2.0-draft"
__attribute__((import_module(TYPES), import_name("[static]client.connect")))
extern void client_connect(const uint8_t *name, uint32_t len, result_handle_t *ret);
/* resources are i32 handles; a list<u8> result comes back through a pointer (ptr, len) */
__attribute__((import_module(TYPES), import_name("[method]message.data")))
extern void message_data(int32_t message, str_t *ret);
__attribute__((import_module(TYPES), import_name("[method]message.set-data")))
extern void message_set_data(int32_t message, const uint8_t *ptr, uint32_t len);
/* send takes the message handle: it belongs to the host afterwards */
__attribute__((import_module("wasi:messaging/producer@0.2.0-draft"), import_name("send")))
extern void send(int32_t client, const uint8_t *topic, uint32_t len, int32_t message, result_unit_t *ret);

/* Bump allocator: the host writes results (message.data's bytes) with it; reset after every call. */
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

#define LIT(s) ((str_t){(const uint8_t *)(s), sizeof(s) - 1})

static int32_t client = -1;
static result_unit_t result;

__attribute__((export_name("wasi:messaging/incoming-handler@0.2.0-draft#handle")))
result_unit_t *handle(int32_t message) {
  result.is_err = 0;
  str_t data;
  message_data(message, &data);
  if (data.len == 0) {
    result.is_err = 1;
    result.err = (error_t){ERROR_OTHER, LIT("empty message")};
    return &result;
  }
  uint8_t *d = (uint8_t *)data.ptr;
  for (uint32_t i = 0; i < data.len; i++) if (d[i] >= 'a' && d[i] <= 'z') d[i] -= 32;
  message_set_data(message, data.ptr, data.len);
  if (client < 0) {
    result_handle_t connected;
    client_connect((const uint8_t *)"default", 7, &connected);
    if (connected.is_err) {
      result.is_err = 1;
      result.err = connected.u.err;
      return &result;
    }
    client = connected.u.handle;
  }
  send(client, (const uint8_t *)"out", 3, message, &result);
  return &result;
}

__attribute__((export_name("cabi_post_wasi:messaging/incoming-handler@0.2.0-draft#handle")))
void post_handle(result_unit_t *ret) {
  (void)ret;
  heap_top = (uintptr_t)&__heap_base;
}
