;; closures.scm: many closures created and called: counters, adders
;; composed into chains, closures kept in lists then applied, and a
;; continuation-passing-style loop (a fresh closure per step).

(define (make-counter)
  (let ((n 0)) (lambda () (set! n (+ n 1)) n)))

(define (adder k) (lambda (x) (+ x k)))
(define (compose f g) (lambda (x) (f (g x))))

(define (chain n)
  ;; a function of n composed adders
  (let loop ((i 0) (f (lambda (x) x)))
    (if (= i n) f (loop (+ i 1) (compose (adder i) f)))))

(define (cps-sum n k)
  (if (= n 0) (k 0) (cps-sum (- n 1) (lambda (s) (k (+ s n))))))

(define (round r)
  (let* ((c (make-counter))
         (fs (let loop ((i 0) (acc '())) (if (= i 200) acc (loop (+ i 1) (cons (adder (+ i r)) acc)))))
         (applied (let loop ((l fs) (s 0)) (if (null? l) s (loop (cdr l) ((car l) s)))))
         (ch ((chain 100) r))
         (cps (cps-sum 300 (lambda (s) s))))
    (let loop ((i 0)) (when (< i 100) (c) (loop (+ i 1))))
    (+ (c) applied ch cps (apply + (map (lambda (f) (f 1)) fs)))))

(define (run n)
  (let loop ((r 0) (sum 0))
    (if (= r n) sum (loop (+ r 1) (remainder (+ sum (round r)) 1000000007)))))

(display "checksum: ") (display (run 5000)) (newline)
