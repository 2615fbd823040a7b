;; World B (wasi:messaging@0.2.0-draft / messaging-core) in WAT: forwards every message, as it
;; is, to topic `echo` on the default broker. The message handle is moved into `send`, so the
;; guest owns nothing after the call.
;;
;; Canonical ABI: `handle(message: own<message>) -> result<_, error>` takes the handle as an i32
;; and returns a pointer to a 16-byte result (discriminant byte at 0; an error variant at 4:
;; its tag byte at 4, string pointer at 8, length at 12). `client.connect` and `send` write
;; results of the same shape through a return pointer, so their errors pass straight through.
(module
  (import "wasi:messaging/types@0.2.0-draft" "[static]client.connect" (func $connect (param i32 i32 i32)))
  (import "wasi:messaging/producer@0.2.0-draft" "send" (func $send (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "default")
  (data (i32.const 48) "echo")
  ;; 0..16: result of handle / send; 16..32: result of connect; heap from 64
  (global $heap (mut i32) (i32.const 64))
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
    (if (i32.lt_s (global.get $client) (i32.const 0))
      (then
        (call $connect (i32.const 32) (i32.const 7) (i32.const 16))
        ;; err: the connect result has the handle result's shape; return it as ours
        (if (i32.load8_u (i32.const 16)) (then (return (i32.const 16))))
        (global.set $client (i32.load (i32.const 20)))))
    (call $send (global.get $client) (i32.const 48) (i32.const 4) (local.get $message) (i32.const 0))
    (i32.const 0))

  (func (export "cabi_post_wasi:messaging/incoming-handler@0.2.0-draft#handle") (param $ret i32)
    (global.set $heap (i32.const 64)))
)
