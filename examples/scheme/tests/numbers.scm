;; numbers.scm: exact integers (fixnums in our interpreter: every value
;; here, intermediate ones too, stays within [-2^62, 2^62 - 1], the range
;; of a 63-bit fixnum; GNU Guile has bignums, so no overflow is tested
;; here), arithmetic, division in all its
;; flavours, expt, gcd/lcm, comparisons, predicates, and number->string /
;; string->number with a radix.

(define (show label v) (display label) (display ": ") (write v) (newline))

(show "+ - *" (list (+) (+ 1) (+ 1 2 3) (- 5) (- 10 1 2) (*) (* 2 3 4)))
(show "big" (list (* 1000000007 1000000009) (- (* 2147483647 2147483647))))
(show "near 2^62" (list (expt 2 61) (+ (- (expt 2 61) 1) (expt 2 61)) (- (- (expt 2 61)) (expt 2 61))))
(show "negative" (list (- 0 (expt 2 61)) (* -1 (expt 3 39))))

(define (divs a b)
  (let-values (((fq fr) (floor/ a b)))
    (list a b (quotient a b) (remainder a b) (modulo a b) fq fr)))
(show "a b quotient remainder modulo floor/" (divs 17 5))
(show "-17 5" (divs -17 5))
(show "17 -5" (divs 17 -5))
(show "-17 -5" (divs -17 -5))
(show "0 7" (divs 0 7))
(show "35 7" (divs 35 7))
(show "-35 7" (divs -35 7))
;; The division identities for every a in [-20, 20] and b in [-6, 6], b /= 0.
(define (identities-hold? a b)
  (let-values (((q r) (floor/ a b)))
    (and (= a (+ (* b (quotient a b)) (remainder a b)))
         (= a (+ (* b q) r))
         (= (modulo a b) r))))
(show "identities"
      (let loop ((a -20) (b -6) (n 0))
        (cond ((> a 20) n)
              ((> b 6) (loop (+ a 1) -6 n))
              ((= b 0) (loop a (+ b 1) n))
              (else (loop a (+ b 1) (if (identities-hold? a b) (+ n 1) n))))))

(show "abs" (list (abs -7) (abs 7) (abs 0)))
(show "min max" (list (min 3 1 2) (max 3 1 2) (min -5) (max -1 -9)))
(show "expt" (list (expt 2 0) (expt 2 10) (expt -3 3) (expt 10 18) (expt 0 5) (expt 1 100) (expt 7 2)))
(show "gcd" (list (gcd) (gcd 12) (gcd 12 18) (gcd -12 18) (gcd 0 5) (gcd 48 36 60)))
(show "lcm" (list (lcm) (lcm 4) (lcm 4 6) (lcm -4 6) (lcm 3 5 7)))

(show "= < > <= >=" (list (= 1 1 1) (= 1 1 2) (< 1 2 3) (< 1 3 2) (> 3 2 1) (<= 1 1 2) (>= 2 2 1) (>= 1 2)))
(show "predicates" (list (zero? 0) (zero? 1) (positive? 1) (positive? 0) (negative? -1) (negative? 0)
                         (even? 0) (even? -2) (odd? -3) (odd? 4)))
(show "number?" (list (number? 1) (number? 'a) (number? "1") (number? #\1)))

(show "number->string" (list (number->string 0) (number->string 123) (number->string -456)
                             (number->string 255 16) (number->string 255 2) (number->string -255 8)
                             (number->string (expt 2 60) 16) (number->string 35 36)))
(show "string->number" (list (string->number "42") (string->number "-17") (string->number "+5")
                             (string->number "ff" 16) (string->number "-1010" 2) (string->number "777" 8)
                             (string->number "zz" 36) (string->number "abc") (string->number "")
                             (string->number "12x")))
(show "round trip radix"
      (let loop ((r 2) (ok #t))
        (if (> r 16) ok
            (loop (+ r 1) (and ok (= (string->number (number->string 123456789 r) r) 123456789))))))

;; A few computations.
(define (fact n) (if (= n 0) 1 (* n (fact (- n 1)))))
(show "20!" (fact 20))
(define (fib n) (let loop ((a 0) (b 1) (i 0)) (if (= i n) a (loop b (+ a b) (+ i 1)))))
(show "fib 90" (fib 90))
(define (isqrt n) (let loop ((x n)) (let ((y (quotient (+ x (quotient n x)) 2))) (if (>= y x) x (loop y)))))
(show "isqrt" (list (isqrt 1000000) (isqrt 999999) (isqrt (expt 10 18))))
(define (primes n)
  (let loop ((i 2) (acc '()))
    (if (> i n) (reverse acc)
        (loop (+ i 1)
              (if (let check ((ps acc)) (cond ((null? ps) #t) ((= 0 (remainder i (car ps))) #f) (else (check (cdr ps)))))
                  (cons i acc) acc)))))
(show "primes to 60" (primes 60))
(define (modpow b e m) (cond ((= e 0) 1) ((even? e) (let ((h (modpow b (quotient e 2) m))) (modulo (* h h) m))) (else (modulo (* b (modpow b (- e 1) m)) m))))
(show "modpow" (modpow 3 1000000 1000000007))
(show "eqv? / eq? small" (list (eqv? 42 42) (eq? 42 42) (eqv? (expt 2 40) (expt 2 40)) (equal? 7 7)))
