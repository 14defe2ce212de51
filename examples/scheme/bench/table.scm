;; table.scm: a large live table replaced at random: a vector of 50,000
;; entries, each a small fresh structure (a list of a vector and a string),
;; replaced 400,000 times in all at indices drawn from a linear
;; congruential generator (so the live heap stays ~constant while old
;; entries die at random ages), plus a 5,000-entry hash table whose values
;; are replaced the same way.

(define N 50000)
(define R 400000)
(define H 5000)

(define seed 12345)
(define (next!)
  ;; x' = (1103515245 x + 12345) mod 2^31
  (set! seed (modulo (+ (* seed 1103515245) 12345) 2147483648))
  seed)

(define (fresh i) (list i (vector i (+ i 1) (+ i 2)) (number->string i)))

(define v (make-vector N #f))
(let loop ((i 0)) (when (< i N) (vector-set! v i (fresh i)) (loop (+ i 1))))
(define t (make-hash-table))
(let loop ((i 0)) (when (< i H) (hash-table-set! t i (fresh i)) (loop (+ i 1))))

(let loop ((k 0))
  (when (< k R)
    (let ((r (next!)))
      (vector-set! v (remainder r N) (fresh k))
      (when (= 0 (remainder k 8))
        (hash-table-set! t (remainder (quotient r 7) H) (fresh k))))
    (loop (+ k 1))))

(define (vsum)
  (let loop ((i 0) (s 0))
    (if (= i N) s
        (let ((e (vector-ref v i)))
          (loop (+ i 1) (+ s (car e) (vector-ref (cadr e) 2) (string-length (caddr e))))))))
(define (tsum)
  (let loop ((i 0) (s 0))
    (if (= i H) s (loop (+ i 1) (+ s (car (hash-table-ref/default t i '(0))))))))
(display "vector checksum: ") (display (vsum)) (newline)
(display "table checksum: ") (display (tsum)) (newline)
