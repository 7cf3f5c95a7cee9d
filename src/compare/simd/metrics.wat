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
  ;; (the atol that would pass), and whether every element has |d| - rtol |r| <= atol (then
  ;; `close` is their number; else -1, and pass B counts them). $pairs element pairs starting
  ;; at byte offsets $r and $c.
  ;;
  ;; Four elements a step (one 16-byte load of each array, then its two f64x2 halves; a last
  ;; pair on its own), and the extremes of r and c in f32x4 lanes: the minimum of float32 values
  ;; is exact in float32. Counting the elements within the tolerance only where some are not
  ;; (pass B) makes this pass about 1.3x as fast; four at a step, about 1.1x.
  (func (export "passA") (param $r i32) (param $c i32) (param $pairs i32) (param $atol f64) (param $rtol f64)
    (local $r4 v128) (local $c4 v128)
    (local $vr v128) (local $vc v128) (local $d v128) (local $ad v128) (local $ar v128) (local $na v128)
    (local $sr v128) (local $sc v128) (local $sabs v128) (local $ssq v128) (local $dot v128) (local $nr v128) (local $nc v128)
    (local $rmin v128) (local $rmax v128) (local $cmin v128) (local $cmax v128)
    (local $maxabs v128) (local $maxrel v128) (local $natol v128)
    (local $vrt v128) (local $zero v128) (local $n i32)
    (local.set $n (i32.shl (local.get $pairs) (i32.const 1)))
    (local.set $zero (f64x2.splat (f64.const 0)))
    (local.set $vrt (f64x2.splat (local.get $rtol)))
    (local.set $rmin (f32x4.splat (f32.const inf)))
    (local.set $cmin (f32x4.splat (f32.const inf)))
    (local.set $rmax (f32x4.splat (f32.const -inf)))
    (local.set $cmax (f32x4.splat (f32.const -inf)))
    (block $done
      (block $last
        (loop $next
          (br_if $last (i32.lt_u (local.get $pairs) (i32.const 2)))
          (local.set $r4 (v128.load align=4 (local.get $r)))
          (local.set $c4 (v128.load align=4 (local.get $c)))
          (local.set $rmin (f32x4.pmin (local.get $rmin) (local.get $r4)))
          (local.set $rmax (f32x4.pmax (local.get $rmax) (local.get $r4)))
          (local.set $cmin (f32x4.pmin (local.get $cmin) (local.get $c4)))
          (local.set $cmax (f32x4.pmax (local.get $cmax) (local.get $c4)))
          (local.set $vr (f64x2.promote_low_f32x4 (local.get $r4)))
          (local.set $vc (f64x2.promote_low_f32x4 (local.get $c4)))
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
          (local.set $maxabs (f64x2.pmax (local.get $maxabs) (local.get $ad)))
          ;; |d| / |r| only where r != 0 (0 elsewhere, which never raises the maximum)
          (local.set $maxrel (f64x2.pmax (local.get $maxrel)
            (v128.and (f64x2.div (local.get $ad) (local.get $ar)) (f64x2.gt (local.get $ar) (local.get $zero)))))
          (local.set $na (f64x2.sub (local.get $ad) (f64x2.mul (local.get $vrt) (local.get $ar))))
          (local.set $natol (f64x2.pmax (local.get $natol) (local.get $na)))
          (local.set $vr (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $r4) (local.get $r4))))
          (local.set $vc (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $c4) (local.get $c4))))
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
          (local.set $maxabs (f64x2.pmax (local.get $maxabs) (local.get $ad)))
          ;; |d| / |r| only where r != 0 (0 elsewhere, which never raises the maximum)
          (local.set $maxrel (f64x2.pmax (local.get $maxrel)
            (v128.and (f64x2.div (local.get $ad) (local.get $ar)) (f64x2.gt (local.get $ar) (local.get $zero)))))
          (local.set $na (f64x2.sub (local.get $ad) (f64x2.mul (local.get $vrt) (local.get $ar))))
          (local.set $natol (f64x2.pmax (local.get $natol) (local.get $na)))
          (local.set $r (i32.add (local.get $r) (i32.const 16)))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (local.set $pairs (i32.sub (local.get $pairs) (i32.const 2)))
          (br $next)))
      ;; An odd pair at the end: its two elements twice over in the f32x4 lanes (the same extremes).
      (br_if $done (i32.eqz (local.get $pairs)))
      (local.set $r4 (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (v128.load64_zero align=4 (local.get $r)) (local.get $zero)))
      (local.set $c4 (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (v128.load64_zero align=4 (local.get $c)) (local.get $zero)))
      (local.set $rmin (f32x4.pmin (local.get $rmin) (local.get $r4)))
      (local.set $rmax (f32x4.pmax (local.get $rmax) (local.get $r4)))
      (local.set $cmin (f32x4.pmin (local.get $cmin) (local.get $c4)))
      (local.set $cmax (f32x4.pmax (local.get $cmax) (local.get $c4)))
      (local.set $vr (f64x2.promote_low_f32x4 (local.get $r4)))
      (local.set $vc (f64x2.promote_low_f32x4 (local.get $c4)))
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
      (local.set $maxabs (f64x2.pmax (local.get $maxabs) (local.get $ad)))
      ;; |d| / |r| only where r != 0 (0 elsewhere, which never raises the maximum)
      (local.set $maxrel (f64x2.pmax (local.get $maxrel)
        (v128.and (f64x2.div (local.get $ad) (local.get $ar)) (f64x2.gt (local.get $ar) (local.get $zero)))))
      (local.set $na (f64x2.sub (local.get $ad) (f64x2.mul (local.get $vrt) (local.get $ar))))
      (local.set $natol (f64x2.pmax (local.get $natol) (local.get $na)))
    )
    (global.set $sr (f64.add (f64x2.extract_lane 0 (local.get $sr)) (f64x2.extract_lane 1 (local.get $sr))))
    (global.set $sc (f64.add (f64x2.extract_lane 0 (local.get $sc)) (f64x2.extract_lane 1 (local.get $sc))))
    (global.set $sabs (f64.add (f64x2.extract_lane 0 (local.get $sabs)) (f64x2.extract_lane 1 (local.get $sabs))))
    (global.set $ssq (f64.add (f64x2.extract_lane 0 (local.get $ssq)) (f64x2.extract_lane 1 (local.get $ssq))))
    (global.set $dot (f64.add (f64x2.extract_lane 0 (local.get $dot)) (f64x2.extract_lane 1 (local.get $dot))))
    (global.set $nr (f64.add (f64x2.extract_lane 0 (local.get $nr)) (f64x2.extract_lane 1 (local.get $nr))))
    (global.set $nc (f64.add (f64x2.extract_lane 0 (local.get $nc)) (f64x2.extract_lane 1 (local.get $nc))))
    (global.set $rmin (f64.promote_f32 (f32.min (f32.min (f32x4.extract_lane 0 (local.get $rmin)) (f32x4.extract_lane 1 (local.get $rmin))) (f32.min (f32x4.extract_lane 2 (local.get $rmin)) (f32x4.extract_lane 3 (local.get $rmin))))))
    (global.set $rmax (f64.promote_f32 (f32.max (f32.max (f32x4.extract_lane 0 (local.get $rmax)) (f32x4.extract_lane 1 (local.get $rmax))) (f32.max (f32x4.extract_lane 2 (local.get $rmax)) (f32x4.extract_lane 3 (local.get $rmax))))))
    (global.set $cmin (f64.promote_f32 (f32.min (f32.min (f32x4.extract_lane 0 (local.get $cmin)) (f32x4.extract_lane 1 (local.get $cmin))) (f32.min (f32x4.extract_lane 2 (local.get $cmin)) (f32x4.extract_lane 3 (local.get $cmin))))))
    (global.set $cmax (f64.promote_f32 (f32.max (f32.max (f32x4.extract_lane 0 (local.get $cmax)) (f32x4.extract_lane 1 (local.get $cmax))) (f32.max (f32x4.extract_lane 2 (local.get $cmax)) (f32x4.extract_lane 3 (local.get $cmax))))))
    (global.set $maxabs (f64.max (f64x2.extract_lane 0 (local.get $maxabs)) (f64x2.extract_lane 1 (local.get $maxabs))))
    (global.set $maxrel (f64.max (f64x2.extract_lane 0 (local.get $maxrel)) (f64x2.extract_lane 1 (local.get $maxrel))))
    (global.set $natol (f64.max (f64x2.extract_lane 0 (local.get $natol)) (f64x2.extract_lane 1 (local.get $natol))))
    ;; Every element is within the tolerance exactly when the largest |d| - rtol |r| is (natol
    ;; starts at 0, so it is at least that). Otherwise pass B counts them: -1 here.
    (global.set $close (select (f64.convert_i32_u (local.get $n)) (f64.const -1) (f64.le (global.get $natol) (local.get $atol)))))

  ;; Pass B, for tensors with elements outside the tolerance: their number (`close` is the
  ;; others'), the rtol that would pass (max over failing elements of (|d| - atol) / |r|, +inf
  ;; where r == 0) and the first element with the largest excess |d| - rtol |r| - atol.
  (func (export "passB") (param $r i32) (param $c i32) (param $pairs i32) (param $atol f64) (param $rtol f64)
    (local $vr v128) (local $ad v128) (local $ar v128) (local $ex v128) (local $bad v128) (local $gt v128)
    (local $nrt v128) (local $wex v128) (local $widx v128) (local $idx v128) (local $nbad v128) (local $n i32)
    (local $va v128) (local $vrt v128) (local $zero v128) (local $two v128)
    (local $e0 f64) (local $e1 f64) (local $i0 i64) (local $i1 i64)
    (local.set $zero (f64x2.splat (f64.const 0)))
    (local.set $va (f64x2.splat (local.get $atol)))
    (local.set $vrt (f64x2.splat (local.get $rtol)))
    (local.set $wex (f64x2.splat (f64.const -inf)))
    (local.set $widx (i64x2.splat (i64.const -1)))
    (local.set $idx (v128.const i64x2 0 1))
    (local.set $two (i64x2.splat (i64.const 2)))
    (local.set $n (i32.shl (local.get $pairs) (i32.const 1)))
    (block $done
      (br_if $done (i32.eqz (local.get $pairs)))
      (loop $next
        (local.set $vr (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $r))))
        (local.set $ad (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $c))) (local.get $vr))))
        (local.set $ar (f64x2.abs (local.get $vr)))
        (local.set $ex (f64x2.sub (f64x2.sub (local.get $ad) (f64x2.mul (local.get $vrt) (local.get $ar))) (local.get $va)))
        (local.set $bad (f64x2.gt (local.get $ex) (local.get $zero)))
        ;; lanes of a comparison are all ones (-1) when true
        (local.set $nbad (i64x2.sub (local.get $nbad) (local.get $bad)))
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
    (global.set $close (f64.convert_i64_s (i64.sub (i64.extend_i32_u (local.get $n))
      (i64.add (i64x2.extract_lane 0 (local.get $nbad)) (i64x2.extract_lane 1 (local.get $nbad))))))
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

  ;; Transposes $batches matrices of $rows x $cols float32 values at $src into $cols x $rows
  ;; ones at $dst (dst[b][j][i] = src[b][i][j]; the two must not overlap): a candidate's NCHW
  ;; activation read as NHWC (rows C, cols H*W) or the other way round, copied into the ring in
  ;; the reference's element order in one pass. tfjs's transpose took 3.6 ns an element.
  ;; 4 x 4 tiles, transposed in registers with i32x4 shuffles; the rows and columns past the
  ;; last whole tile one by one. The outer loop walks strips of 4 along the smaller dimension and
  ;; the inner one the larger: each strip reads and writes 4 runs of consecutive values. The
  ;; other order (the inner loop across the smaller dimension, its reads or writes a whole row
  ;; apart, 64 KiB for H x W = 128 x 128) ran at 0.45-1.2 ns an element against 0.14-0.30 here.
  (func (export "transpose") (param $dst i32) (param $src i32) (param $batches i32) (param $rows i32) (param $cols i32)
    (local $b i32) (local $i i32) (local $j i32) (local $o i32) (local $q i32) (local $on i32) (local $qn i32) (local $swap i32)
    (local $r4 i32) (local $c4 i32) (local $sstride i32) (local $dstride i32) (local $s i32) (local $d i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $sstride (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $dstride (i32.shl (local.get $rows) (i32.const 2)))
    ;; the outer loop ($o) walks the smaller dimension, the inner one ($q) the larger
    (local.set $swap (i32.gt_u (local.get $rows) (local.get $cols)))
    (local.set $on (select (local.get $c4) (local.get $r4) (local.get $swap)))
    (local.set $qn (select (local.get $r4) (local.get $c4) (local.get $swap)))
    (local.set $b (i32.const 0))
    (block $bdone (loop $bnext
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $batches)))
      (local.set $o (i32.const 0))
      (block $odone (loop $onext
        (br_if $odone (i32.ge_u (local.get $o) (local.get $on)))
        (local.set $q (i32.const 0))
        (block $qdone (loop $qnext
          (br_if $qdone (i32.ge_u (local.get $q) (local.get $qn)))
          (local.set $i (select (local.get $q) (local.get $o) (local.get $swap)))
          (local.set $j (select (local.get $o) (local.get $q) (local.get $swap)))
          ;; the 4 x 4 tile at row $i, column $j
          (local.set $s (i32.add (local.get $src) (i32.add (i32.mul (local.get $i) (local.get $sstride)) (i32.shl (local.get $j) (i32.const 2)))))
          (local.set $x0 (v128.load align=4 (local.get $s)))
          (local.set $x1 (v128.load align=4 (i32.add (local.get $s) (local.get $sstride))))
          (local.set $s (i32.add (local.get $s) (i32.shl (local.get $sstride) (i32.const 1))))
          (local.set $x2 (v128.load align=4 (local.get $s)))
          (local.set $x3 (v128.load align=4 (i32.add (local.get $s) (local.get $sstride))))
          ;; t0 = x0[0] x1[0] x0[1] x1[1], t1 = x0[2] x1[2] x0[3] x1[3], t2 and t3 the same of x2, x3
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x0) (local.get $x1)))
          (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x0) (local.get $x1)))
          (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x2) (local.get $x3)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x2) (local.get $x3)))
          (local.set $d (i32.add (local.get $dst) (i32.add (i32.mul (local.get $j) (local.get $dstride)) (i32.shl (local.get $i) (i32.const 2)))))
          ;; column k of the tile: x0[k] x1[k] x2[k] x3[k]
          (v128.store align=4 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
          (v128.store align=4 (i32.add (local.get $d) (local.get $dstride)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
          (local.set $d (i32.add (local.get $d) (i32.shl (local.get $dstride) (i32.const 1))))
          (v128.store align=4 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
          (v128.store align=4 (i32.add (local.get $d) (local.get $dstride)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (br $qnext)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $onext)))
      ;; the rows past the last whole tile, every column; then the columns past it, the tiled rows
      (call $scalar (local.get $dst) (local.get $src) (local.get $r4) (local.get $rows) (i32.const 0) (local.get $cols) (local.get $rows) (local.get $cols))
      (call $scalar (local.get $dst) (local.get $src) (i32.const 0) (local.get $r4) (local.get $c4) (local.get $cols) (local.get $rows) (local.get $cols))
      (local.set $src (i32.add (local.get $src) (i32.mul (local.get $sstride) (local.get $rows))))
      (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $sstride) (local.get $rows))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bnext))))

  ;; Rows [$i0, $i1) by columns [$j0, $j1) of one $rows x $cols matrix, one element at a time.
  (func $scalar (param $dst i32) (param $src i32) (param $i0 i32) (param $i1 i32) (param $j0 i32) (param $j1 i32) (param $rows i32) (param $cols i32)
    (local $i i32) (local $j i32)
    (local.set $i (local.get $i0))
    (block $idone (loop $inext
      (br_if $idone (i32.ge_u (local.get $i) (local.get $i1)))
      (local.set $j (local.get $j0))
      (block $jdone (loop $jnext
        (br_if $jdone (i32.ge_u (local.get $j) (local.get $j1)))
        ;; as integers: the bits move, whatever NaN payloads they hold
        (i32.store
          (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $rows)) (local.get $i)) (i32.const 2)))
          (i32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $cols)) (local.get $j)) (i32.const 2)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jnext)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $inext))))
)
