;; World A (wasi:messaging@0.1.0-draft / messaging): a CPU-bound handler for benchmarks and
;; ordering tests. If the event data starts with decimal digits, it spins that many rounds of a
;; small integer hash (≈1 ns each here) before accepting; anything else is accepted at once.
;; It publishes nothing. The event record's data option is at +32 (flag), +36 (ptr), +40 (len).
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

  ;; the hash state lives in a global so the loop has an effect the engine cannot remove
  (global $state (mut i32) (i32.const 1))

  (func (export "wasi:messaging/handler@0.1.0-draft#on-receive") (param $event i32) (result i32)
    (local $p i32) (local $end i32) (local $n i32) (local $c i32) (local $h i32)
    (if (i32.load8_u (i32.add (local.get $event) (i32.const 32)))
      (then
        (local.set $p (i32.load (i32.add (local.get $event) (i32.const 36))))
        (local.set $end (i32.add (local.get $p) (i32.load (i32.add (local.get $event) (i32.const 40)))))
        ;; n = leading decimal digits
        (block $done
          (loop $digits
            (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
            (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
            (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $c)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $digits)))))
    (local.set $h (global.get $state))
    (block $stop
      (loop $spin
        (br_if $stop (i32.eqz (local.get $n)))
        (local.set $h (i32.mul (i32.xor (local.get $h) (local.get $n)) (i32.const 16777619)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $spin)))
    (global.set $state (local.get $h))
    (i32.store8 (i32.const 0) (i32.const 0)) ;; result::ok
    (i32.const 0))

  (func (export "cabi_post_wasi:messaging/handler@0.1.0-draft#on-receive") (param $ret i32)
    (global.set $heap (i32.const 64)))
)
