;; World A (wasi:messaging@0.1.0-draft / messaging), the smallest handler there is:
;; accept every event and publish nothing. The benchmarks use it to measure the host's own cost.
;;
;; Canonical ABI notes: `on-receive(e: event) -> result<_, error>` flattens to 26 parameters,
;; more than the 16 the ABI passes directly, so the host writes the event into our memory
;; (allocating with cabi_realloc) and passes one pointer; the result is returned through a
;; pointer to a 16-byte area whose first byte is the discriminant (0 = ok).
(module
  (memory (export "memory") 1)
  ;; bump allocator: 0..64 holds the result area, the heap starts at 64 and is reset after
  ;; every call by the post-return function, so memory never grows.
  (global $heap (mut i32) (i32.const 64))

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    ;; align up
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.xor (i32.sub (local.get $align) (i32.const 1)) (i32.const -1))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    ;; grow memory when the heap passes its end
    (block $fits
      (br_if $fits (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow
        (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))))
    (local.get $ptr))

  (func (export "wasi:messaging/handler@0.1.0-draft#on-receive") (param $event i32) (result i32)
    (i32.store8 (i32.const 0) (i32.const 0)) ;; result::ok
    (i32.const 0))

  (func (export "cabi_post_wasi:messaging/handler@0.1.0-draft#on-receive") (param $ret i32)
    (global.set $heap (i32.const 64)))
)
