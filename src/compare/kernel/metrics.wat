;; Metric accumulation over two float32 arrays in linear memory, two elements at a time in
;; f64x2 lanes (the same double-precision arithmetic as the scalar JavaScript version in
;; metrics.ts, so every decision - allclose, maxima - is the same; only the order of the sums
;; differs). Compiled by scripts/build-wasm.mjs into metrics-wasm.ts; see kernel.ts.
;;
;; The memory is imported so the kernel can run directly on the tfjs wasm backend's heap
;; (no copy of either tensor) or on a memory of its own. Results are left in exported globals.
;; Non-finite values are not handled here: they make the sums non-finite, and the caller then
;; uses the scalar version, which counts and matches them.
(module
  (import "env" "memory" (memory 0))

  (global $sr (export "sr") (mut f64) (f64.const 0))
  (global $sc (export "sc") (mut f64) (f64.const 0))
  (global $sabs (export "sabs") (mut f64) (f64.const 0))
  (global $ssq (export "ssq") (mut f64) (f64.const 0))
  (global $dot (export "dot") (mut f64) (f64.const 0))
  (global $nr (export "nr") (mut f64) (f64.const 0))
  (global $nc (export "nc") (mut f64) (f64.const 0))
  (global $rmin (export "rmin") (mut f64) (f64.const 0))
  (global $rmax (export "rmax") (mut f64) (f64.const 0))
  (global $cmin (export "cmin") (mut f64) (f64.const 0))
  (global $cmax (export "cmax") (mut f64) (f64.const 0))
  (global $maxabs (export "maxabs") (mut f64) (f64.const 0))
  (global $maxrel (export "maxrel") (mut f64) (f64.const 0))
  (global $natol (export "natol") (mut f64) (f64.const 0))
  (global $close (export "close") (mut f64) (f64.const 0))
  (global $nrtol (export "nrtol") (mut f64) (f64.const 0))
  (global $wex (export "wex") (mut f64) (f64.const 0))
  (global $widx (export "widx") (mut f64) (f64.const -1))

  ;; Pass A: value sums and extremes, max |d|, max |d|/|r| (r != 0), max(|d| - rtol |r|)
  ;; (the atol that would pass), and the number of elements with |d| - rtol |r| <= atol.
  ;; $pairs element pairs starting at byte offsets $r and $c.
  (func (export "passA") (param $r i32) (param $c i32) (param $pairs i32) (param $atol f64) (param $rtol f64)
    (local $vr v128) (local $vc v128) (local $d v128) (local $ad v128) (local $ar v128) (local $na v128)
    (local $sr v128) (local $sc v128) (local $sabs v128) (local $ssq v128) (local $dot v128) (local $nr v128) (local $nc v128)
    (local $rmin v128) (local $rmax v128) (local $cmin v128) (local $cmax v128)
    (local $maxabs v128) (local $maxrel v128) (local $natol v128) (local $close v128)
    (local $va v128) (local $vrt v128) (local $zero v128)
    (local.set $zero (f64x2.splat (f64.const 0)))
    (local.set $va (f64x2.splat (local.get $atol)))
    (local.set $vrt (f64x2.splat (local.get $rtol)))
    (local.set $rmin (f64x2.splat (f64.const inf)))
    (local.set $cmin (f64x2.splat (f64.const inf)))
    (local.set $rmax (f64x2.splat (f64.const -inf)))
    (local.set $cmax (f64x2.splat (f64.const -inf)))
    (block $done
      (br_if $done (i32.eqz (local.get $pairs)))
      (loop $next
        (local.set $vr (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $r))))
        (local.set $vc (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $c))))
        (local.set $d (f64x2.sub (local.get $vc) (local.get $vr)))
        (local.set $ad (f64x2.abs (local.get $d)))
        (local.set $ar (f64x2.abs (local.get $vr)))
        (local.set $sr (f64x2.add (local.get $sr) (local.get $vr)))
        (local.set $sc (f64x2.add (local.get $sc) (local.get $vc)))
        (local.set $sabs (f64x2.add (local.get $sabs) (local.get $ad)))
        (local.set $ssq (f64x2.add (local.get $ssq) (f64x2.mul (local.get $d) (local.get $d))))
        (local.set $dot (f64x2.add (local.get $dot) (f64x2.mul (local.get $vr) (local.get $vc))))
        (local.set $nr (f64x2.add (local.get $nr) (f64x2.mul (local.get $vr) (local.get $vr))))
        (local.set $nc (f64x2.add (local.get $nc) (f64x2.mul (local.get $vc) (local.get $vc))))
        (local.set $rmin (f64x2.pmin (local.get $rmin) (local.get $vr)))
        (local.set $rmax (f64x2.pmax (local.get $rmax) (local.get $vr)))
        (local.set $cmin (f64x2.pmin (local.get $cmin) (local.get $vc)))
        (local.set $cmax (f64x2.pmax (local.get $cmax) (local.get $vc)))
        (local.set $maxabs (f64x2.pmax (local.get $maxabs) (local.get $ad)))
        ;; |d| / |r| only where r != 0 (0 elsewhere, which never raises the maximum)
        (local.set $maxrel (f64x2.pmax (local.get $maxrel)
          (v128.bitselect (f64x2.div (local.get $ad) (local.get $ar)) (local.get $zero) (f64x2.gt (local.get $ar) (local.get $zero)))))
        (local.set $na (f64x2.sub (local.get $ad) (f64x2.mul (local.get $vrt) (local.get $ar))))
        (local.set $natol (f64x2.pmax (local.get $natol) (local.get $na)))
        ;; lanes of a comparison are all ones (-1) when true
        (local.set $close (i64x2.sub (local.get $close) (f64x2.le (local.get $na) (local.get $va))))
        (local.set $r (i32.add (local.get $r) (i32.const 8)))
        (local.set $c (i32.add (local.get $c) (i32.const 8)))
        (br_if $next (local.tee $pairs (i32.sub (local.get $pairs) (i32.const 1))))))
    (global.set $sr (f64.add (f64x2.extract_lane 0 (local.get $sr)) (f64x2.extract_lane 1 (local.get $sr))))
    (global.set $sc (f64.add (f64x2.extract_lane 0 (local.get $sc)) (f64x2.extract_lane 1 (local.get $sc))))
    (global.set $sabs (f64.add (f64x2.extract_lane 0 (local.get $sabs)) (f64x2.extract_lane 1 (local.get $sabs))))
    (global.set $ssq (f64.add (f64x2.extract_lane 0 (local.get $ssq)) (f64x2.extract_lane 1 (local.get $ssq))))
    (global.set $dot (f64.add (f64x2.extract_lane 0 (local.get $dot)) (f64x2.extract_lane 1 (local.get $dot))))
    (global.set $nr (f64.add (f64x2.extract_lane 0 (local.get $nr)) (f64x2.extract_lane 1 (local.get $nr))))
    (global.set $nc (f64.add (f64x2.extract_lane 0 (local.get $nc)) (f64x2.extract_lane 1 (local.get $nc))))
    (global.set $rmin (f64.min (f64x2.extract_lane 0 (local.get $rmin)) (f64x2.extract_lane 1 (local.get $rmin))))
    (global.set $rmax (f64.max (f64x2.extract_lane 0 (local.get $rmax)) (f64x2.extract_lane 1 (local.get $rmax))))
    (global.set $cmin (f64.min (f64x2.extract_lane 0 (local.get $cmin)) (f64x2.extract_lane 1 (local.get $cmin))))
    (global.set $cmax (f64.max (f64x2.extract_lane 0 (local.get $cmax)) (f64x2.extract_lane 1 (local.get $cmax))))
    (global.set $maxabs (f64.max (f64x2.extract_lane 0 (local.get $maxabs)) (f64x2.extract_lane 1 (local.get $maxabs))))
    (global.set $maxrel (f64.max (f64x2.extract_lane 0 (local.get $maxrel)) (f64x2.extract_lane 1 (local.get $maxrel))))
    (global.set $natol (f64.max (f64x2.extract_lane 0 (local.get $natol)) (f64x2.extract_lane 1 (local.get $natol))))
    (global.set $close (f64.convert_i64_s (i64.add (i64x2.extract_lane 0 (local.get $close)) (i64x2.extract_lane 1 (local.get $close))))))

  ;; Pass B, for tensors with elements outside the tolerance: the rtol that would pass
  ;; (max over failing elements of (|d| - atol) / |r|, +inf where r == 0) and the first
  ;; element with the largest excess |d| - rtol |r| - atol.
  (func (export "passB") (param $r i32) (param $c i32) (param $pairs i32) (param $atol f64) (param $rtol f64)
    (local $vr v128) (local $ad v128) (local $ar v128) (local $ex v128) (local $bad v128) (local $gt v128)
    (local $nrt v128) (local $wex v128) (local $widx v128) (local $idx v128)
    (local $va v128) (local $vrt v128) (local $zero v128) (local $two v128)
    (local $e0 f64) (local $e1 f64) (local $i0 i64) (local $i1 i64)
    (local.set $zero (f64x2.splat (f64.const 0)))
    (local.set $va (f64x2.splat (local.get $atol)))
    (local.set $vrt (f64x2.splat (local.get $rtol)))
    (local.set $wex (f64x2.splat (f64.const -inf)))
    (local.set $widx (i64x2.splat (i64.const -1)))
    (local.set $idx (v128.const i64x2 0 1))
    (local.set $two (i64x2.splat (i64.const 2)))
    (block $done
      (br_if $done (i32.eqz (local.get $pairs)))
      (loop $next
        (local.set $vr (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $r))))
        (local.set $ad (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $c))) (local.get $vr))))
        (local.set $ar (f64x2.abs (local.get $vr)))
        (local.set $ex (f64x2.sub (f64x2.sub (local.get $ad) (f64x2.mul (local.get $vrt) (local.get $ar))) (local.get $va)))
        (local.set $bad (f64x2.gt (local.get $ex) (local.get $zero)))
        ;; a failing element has |d| > atol, so (|d| - atol) / 0 is +inf where r == 0
        (local.set $nrt (f64x2.pmax (local.get $nrt)
          (v128.bitselect (f64x2.div (f64x2.sub (local.get $ad) (local.get $va)) (local.get $ar)) (local.get $zero) (local.get $bad))))
        (local.set $gt (f64x2.gt (local.get $ex) (local.get $wex)))
        (local.set $wex (v128.bitselect (local.get $ex) (local.get $wex) (local.get $gt)))
        (local.set $widx (v128.bitselect (local.get $idx) (local.get $widx) (local.get $gt)))
        (local.set $idx (i64x2.add (local.get $idx) (local.get $two)))
        (local.set $r (i32.add (local.get $r) (i32.const 8)))
        (local.set $c (i32.add (local.get $c) (i32.const 8)))
        (br_if $next (local.tee $pairs (i32.sub (local.get $pairs) (i32.const 1))))))
    (global.set $nrtol (f64.max (f64x2.extract_lane 0 (local.get $nrt)) (f64x2.extract_lane 1 (local.get $nrt))))
    ;; the larger excess wins; on a tie, the smaller index
    (local.set $e0 (f64x2.extract_lane 0 (local.get $wex)))
    (local.set $e1 (f64x2.extract_lane 1 (local.get $wex)))
    (local.set $i0 (i64x2.extract_lane 0 (local.get $widx)))
    (local.set $i1 (i64x2.extract_lane 1 (local.get $widx)))
    (if (i32.or (f64.gt (local.get $e1) (local.get $e0))
                (i32.and (f64.eq (local.get $e1) (local.get $e0)) (i32.and (i64.ge_s (local.get $i1) (i64.const 0)) (i64.lt_u (local.get $i1) (local.get $i0)))))
      (then (local.set $e0 (local.get $e1)) (local.set $i0 (local.get $i1))))
    (global.set $wex (local.get $e0))
    (global.set $widx (f64.convert_i64_s (local.get $i0))))

  ;; Copies $bytes bytes from $src to $dst within the memory: the main thread's copy of a pair into
  ;; the metrics thread's ring when that ring is in the tfjs heap (pool.ts), about 1.6x as fast as
  ;; TypedArray.prototype.set between shared buffers.
  (func (export "copy") (param $dst i32) (param $src i32) (param $bytes i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $bytes)))
)
