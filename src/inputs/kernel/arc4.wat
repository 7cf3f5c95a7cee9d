;; seedrandom's ARC4 stream (RC4 with the first 256 bytes dropped) and its doubles, in
;; WebAssembly: the same integer steps and the same float64 arithmetic as seedrandom 3's
;; prng(), so it yields the same doubles bit for bit (test/inputs/arc4.test.ts), several
;; times faster and without a cold JIT. The caller seeds it with seedrandom's own key
;; schedule (its state() after construction): S at bytes 0..255, i and j by setState.
;;
;; Memory: S at 0..255; doubles are written from byte 1024 on.
(module
  (memory (export "memory") 2)
  (global $i (mut i32) (i32.const 0))
  (global $j (mut i32) (i32.const 0))

  (func (export "setState") (param $i i32) (param $j i32)
    (global.set $i (local.get $i))
    (global.set $j (local.get $j)))
  (func (export "getI") (result i32) (global.get $i))
  (func (export "getJ") (result i32) (global.get $j))

  ;; doubles(out, count): count doubles in [0, 1) at out (8-byte aligned).
  (func (export "doubles") (param $out i32) (param $count i32)
    (local $i i32) (local $j i32) (local $t i32) (local $u i32) (local $k i32)
    (local $x i32) (local $n f64) (local $d f64) (local $end i32)
    (local.set $i (global.get $i))
    (local.set $j (global.get $j))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 3))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        ;; n = six stream bytes, most significant first (exact in float64: n < 2^48)
        (local.set $n (f64.const 0))
        (local.set $k (i32.const 6))
        (loop $six
          (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)))
          (local.set $t (i32.load8_u (local.get $i)))
          (local.set $j (i32.and (i32.add (local.get $j) (local.get $t)) (i32.const 255)))
          (local.set $u (i32.load8_u (local.get $j)))
          (i32.store8 (local.get $i) (local.get $u))
          (i32.store8 (local.get $j) (local.get $t))
          (local.set $n (f64.add (f64.mul (local.get $n) (f64.const 256))
            (f64.convert_i32_u (i32.load8_u (i32.and (i32.add (local.get $u) (local.get $t)) (i32.const 255))))))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br_if $six (local.get $k)))
        (local.set $d (f64.const 281474976710656)) ;; 256^6
        (local.set $x (i32.const 0))
        ;; while (n < 2^52) { n = (n + x) * 256; d *= 256; x = next byte }
        (block $full
          (loop $fill
            (br_if $full (f64.ge (local.get $n) (f64.const 4503599627370496)))
            (local.set $n (f64.mul (f64.add (local.get $n) (f64.convert_i32_u (local.get $x))) (f64.const 256)))
            (local.set $d (f64.mul (local.get $d) (f64.const 256)))
            (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)))
            (local.set $t (i32.load8_u (local.get $i)))
            (local.set $j (i32.and (i32.add (local.get $j) (local.get $t)) (i32.const 255)))
            (local.set $u (i32.load8_u (local.get $j)))
            (i32.store8 (local.get $i) (local.get $u))
            (i32.store8 (local.get $j) (local.get $t))
            (local.set $x (i32.load8_u (i32.and (i32.add (local.get $u) (local.get $t)) (i32.const 255))))
            (br $fill)))
        ;; while (n >= 2^53) { n /= 2; d /= 2; x >>>= 1 }
        (block $fits
          (loop $shift
            (br_if $fits (f64.lt (local.get $n) (f64.const 9007199254740992)))
            (local.set $n (f64.div (local.get $n) (f64.const 2)))
            (local.set $d (f64.div (local.get $d) (f64.const 2)))
            (local.set $x (i32.shr_u (local.get $x) (i32.const 1)))
            (br $shift)))
        (f64.store (local.get $out)
          (f64.div (f64.add (local.get $n) (f64.convert_i32_u (local.get $x))) (local.get $d)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br $each)))
    (global.set $i (local.get $i))
    (global.set $j (local.get $j)))
)
