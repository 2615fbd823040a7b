;; World A (wasi:messaging@0.1.0-draft / messaging) in WAT: on-receive upper-cases the event's
;; data (ASCII) and publishes the event to topic `out` on broker `default`; an event without data
;; is refused with err(other("empty message")).
;;
;; Canonical ABI, by hand:
;; - on-receive(e: event) -> result<_, error>: the event flattens to 26 values, more than the 16
;;   passed directly, so the host writes it into our memory (cabi_realloc) and passes a pointer.
;;   event (104 bytes, align 4): specversion 0, ty 8, source 16, id 24 (each ptr, len);
;;   data option<list<u8>> at 32 (tag u8 at 32, ptr 36, len 40); datacontenttype 44,
;;   dataschema 56, subject 68, time 80 (option<string>, 12 bytes each); extensions 92.
;; - results result<_, error> are 16 bytes: tag u8 at 0 (0 ok, 1 err); the error variant at 4
;;   (tag u8 at 4: 0 timeout, 1 connection, 2 permission-denied, 3 other; string ptr 8, len 12).
;;   We return a pointer to ours.
;; - broker.open(name) -> result<broker, error>: (ptr, len, retptr); ok: the handle at 4.
;; - publish(b, c, e): 28 flat values, so one pointer to its arguments (120 bytes): broker
;;   handle at 0, channel variant at 4 (tag u8 at 4: 0 queue, 1 topic; name ptr 8, len 12),
;;   the event at 16; and a retptr.
(module
  (import "wasi:messaging/messaging-types@0.1.0-draft" "[static]broker.open" (func $open (param i32 i32 i32)))
  (import "wasi:messaging/producer@0.1.0-draft" "publish" (func $publish (param i32 i32)))
  (memory (export "memory") 1)
  ;; 0..16 our result; 16..32 broker.open's; 32..48 publish's; 64..184 publish's arguments;
  ;; strings from 192; the heap from 256, reset after every call by the post-return function
  (data (i32.const 192) "default")
  (data (i32.const 200) "out")
  (data (i32.const 208) "empty message")
  (global $heap (mut i32) (i32.const 256))
  (global $broker (mut i32) (i32.const -1))

  ;; the allocator the host uses to write the event into our memory: a bump allocator
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.xor (i32.sub (local.get $align) (i32.const 1)) (i32.const -1))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (block $fits
      (br_if $fits (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow
        (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))))
    (local.get $ptr))

  (func (export "wasi:messaging/handler@0.1.0-draft#on-receive") (param $e i32) (result i32)
    (local $p i32) (local $end i32) (local $c i32)
    ;; no data, or none at all: err(other("empty message"))
    (if (i32.or (i32.eqz (i32.load8_u offset=32 (local.get $e))) (i32.eqz (i32.load offset=40 (local.get $e))))
      (then
        (i32.store8 (i32.const 0) (i32.const 1))
        (i32.store8 (i32.const 4) (i32.const 3))
        (i32.store (i32.const 8) (i32.const 208))
        (i32.store (i32.const 12) (i32.const 13))
        (return (i32.const 0))))
    ;; upper-case the data where it is (the host allocated it for this call)
    (local.set $p (i32.load offset=36 (local.get $e)))
    (local.set $end (i32.add (local.get $p) (i32.load offset=40 (local.get $e))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.le_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 25))
          (then (i32.store8 (local.get $p) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    ;; open broker `default` once; its error is returned as ours
    (if (i32.lt_s (global.get $broker) (i32.const 0))
      (then
        (call $open (i32.const 192) (i32.const 7) (i32.const 16))
        (if (i32.load8_u (i32.const 16)) (then (return (i32.const 16))))
        (global.set $broker (i32.load (i32.const 20)))))
    ;; publish(broker, topic("out"), event): its result is ours
    (i32.store (i32.const 64) (global.get $broker))
    (i32.store8 (i32.const 68) (i32.const 1))
    (i32.store (i32.const 72) (i32.const 200))
    (i32.store (i32.const 76) (i32.const 3))
    (memory.copy (i32.const 80) (local.get $e) (i32.const 104))
    (call $publish (i32.const 64) (i32.const 32))
    (i32.const 32))

  (func (export "cabi_post_wasi:messaging/handler@0.1.0-draft#on-receive") (param $ret i32)
    (global.set $heap (i32.const 256)))
)
