;; World B (wasi:messaging@0.2.0-draft / messaging-core) in WAT: handle upper-cases the message's
;; data (ASCII) and sends the message to topic `out` on broker `default`; an empty message is
;; refused with err(other("empty message")).
;;
;; Canonical ABI, by hand:
;; - handle(message: own<message>) -> result<_, error>: the message is a handle (i32); we return
;;   a pointer to 16 bytes: tag u8 at 0 (0 ok, 1 err), the error variant at 4 (tag u8 at 4:
;;   0 timeout, 1 connection, 2 permission-denied, 3 other; string ptr 8, len 12).
;; - message.data() -> list<u8>: (handle, retptr); the host writes ptr at 0, len at 4 (the bytes
;;   are allocated in our memory with cabi_realloc). message.set-data(list<u8>): (handle, ptr, len).
;; - client.connect(name) -> result<client, error>: (ptr, len, retptr), the same 16-byte shape
;;   (ok: the handle at 4). send(client, topic, message): (client, ptr, len, message, retptr);
;;   the message handle moves to the host.
(module
  (import "wasi:messaging/types@0.2.0-draft" "[static]client.connect" (func $connect (param i32 i32 i32)))
  (import "wasi:messaging/types@0.2.0-draft" "[method]message.data" (func $data (param i32 i32)))
  (import "wasi:messaging/types@0.2.0-draft" "[method]message.set-data" (func $set_data (param i32 i32 i32)))
  (import "wasi:messaging/producer@0.2.0-draft" "send" (func $send (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  ;; 0..16 our result (and send's); 16..32 connect's; 32..40 data()'s list;
  ;; strings from 192; the heap from 256, reset after every call by the post-return function
  (data (i32.const 192) "default")
  (data (i32.const 200) "out")
  (data (i32.const 208) "empty message")
  (global $heap (mut i32) (i32.const 256))
  (global $client (mut i32) (i32.const -1))

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

  (func (export "wasi:messaging/incoming-handler@0.2.0-draft#handle") (param $message i32) (result i32)
    (local $p i32) (local $len i32) (local $end i32) (local $c i32)
    (call $data (local.get $message) (i32.const 32))
    (local.set $p (i32.load (i32.const 32)))
    (local.set $len (i32.load (i32.const 36)))
    (if (i32.eqz (local.get $len))
      (then
        (i32.store8 (i32.const 0) (i32.const 1))
        (i32.store8 (i32.const 4) (i32.const 3))
        (i32.store (i32.const 8) (i32.const 208))
        (i32.store (i32.const 12) (i32.const 13))
        (return (i32.const 0))))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.le_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 25))
          (then (i32.store8 (local.get $p) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (call $set_data (local.get $message) (i32.load (i32.const 32)) (local.get $len))
    ;; connect to broker `default` once; its error is returned as ours
    (if (i32.lt_s (global.get $client) (i32.const 0))
      (then
        (call $connect (i32.const 192) (i32.const 7) (i32.const 16))
        (if (i32.load8_u (i32.const 16)) (then (return (i32.const 16))))
        (global.set $client (i32.load (i32.const 20)))))
    ;; send(client, "out", message): its result, written at 0, is ours
    (call $send (global.get $client) (i32.const 200) (i32.const 3) (local.get $message) (i32.const 0))
    (i32.const 0))

  (func (export "cabi_post_wasi:messaging/incoming-handler@0.2.0-draft#handle") (param $ret i32)
    (global.set $heap (i32.const 256)))
)
