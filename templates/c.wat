;; World C (wasi:messaging@0.2.0-draft / messaging, batch delivery) in WAT: configure() asks for
;; channel `in`; handler upper-cases the data (ASCII) of every message of the batch and sends the
;; batch to topic `out` on broker `default` with one `send`.
;;
;; Canonical ABI, by hand:
;; - message record (24 bytes, align 4): data ptr 0 / len 4, format enum u8 at 8, metadata
;;   option tag u8 at 12, list ptr 16 / len 20.
;; - configure() -> result<guest-configuration, error>: a pointer to 24 bytes: tag u8 at 0; ok:
;;   channels ptr 4 / len 8 (a list of strings: ptr, len each), extensions option tag u8 at 12.
;; - handler(list<message>) -> result<_, error>: (ptr, len) -> a pointer to 8 bytes: tag u8 at
;;   0, error handle at 4 (an error is a resource: a guest can only pass on one the host gave it).
;; - client.connect(name): (ptr, len, retptr) -> 8 bytes of the same shape (ok: the handle at 4).
;;   send(client, channel, list<message>): (client, ptr, len, ptr, len, retptr); the client is
;;   passed owned, so the guest connects for each batch.
(module
  (import "wasi:messaging/messaging-types@0.2.0-draft" "[static]client.connect" (func $connect (param i32 i32 i32)))
  (import "wasi:messaging/producer@0.2.0-draft" "send" (func $send (param i32 i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  ;; 0..8 handler result; 8..16 connect's; 16..24 send's; 32..56 configure's; 64..72 the channel
  ;; list; strings from 80; the heap from 128, reset after every call by the post-return function
  (data (i32.const 80) "default")
  (data (i32.const 96) "in")
  (data (i32.const 104) "out")
  (global $heap (mut i32) (i32.const 128))

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

  ;; ok({ channels: ["in"], extensions: none })
  (func (export "wasi:messaging/messaging-guest@0.2.0-draft#configure") (result i32)
    (i32.store (i32.const 64) (i32.const 96))
    (i32.store (i32.const 68) (i32.const 2))
    (i32.store8 (i32.const 32) (i32.const 0))
    (i32.store (i32.const 36) (i32.const 64))
    (i32.store (i32.const 40) (i32.const 1))
    (i32.store8 (i32.const 44) (i32.const 0))
    (i32.const 32))

  (func (export "cabi_post_wasi:messaging/messaging-guest@0.2.0-draft#configure") (param $ret i32))

  (func (export "wasi:messaging/messaging-guest@0.2.0-draft#handler") (param $ptr i32) (param $len i32) (result i32)
    (local $m i32) (local $last i32) (local $p i32) (local $end i32) (local $c i32)
    ;; every message: upper-case its data where it is
    (local.set $m (local.get $ptr))
    (local.set $last (i32.add (local.get $ptr) (i32.mul (local.get $len) (i32.const 24))))
    (block $messages
      (loop $message
        (br_if $messages (i32.ge_u (local.get $m) (local.get $last)))
        (local.set $p (i32.load (local.get $m)))
        (local.set $end (i32.add (local.get $p) (i32.load offset=4 (local.get $m))))
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $c (i32.load8_u (local.get $p)))
            (if (i32.le_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 25))
              (then (i32.store8 (local.get $p) (i32.sub (local.get $c) (i32.const 32)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $next)))
        (local.set $m (i32.add (local.get $m) (i32.const 24)))
        (br $message)))
    ;; the records are laid out as send wants its list: pass them on as they are
    (call $connect (i32.const 80) (i32.const 7) (i32.const 8))
    (if (i32.load8_u (i32.const 8)) (then (return (i32.const 8))))
    (call $send (i32.load (i32.const 12)) (i32.const 104) (i32.const 3) (local.get $ptr) (local.get $len) (i32.const 16))
    (if (i32.load8_u (i32.const 16)) (then (return (i32.const 16))))
    (i32.store8 (i32.const 0) (i32.const 0))
    (i32.const 0))

  (func (export "cabi_post_wasi:messaging/messaging-guest@0.2.0-draft#handler") (param $ret i32)
    (global.set $heap (i32.const 128)))
)
