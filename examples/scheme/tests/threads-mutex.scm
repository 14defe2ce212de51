;; threads-mutex.scm: a shared counter incremented by 4 threads under a
;; mutex (no lost updates), a shared list pushed to under the mutex, and a
;; shared hash table.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define m (make-mutex))
(define counter 0)
(define shared '())
(define table (make-hash-table))

(define (worker id n)
  (lambda ()
    (let loop ((i 0))
      (when (< i n)
        (mutex-lock! m)
        (set! counter (+ counter 1))
        (when (= 0 (remainder i 100))
          (set! shared (cons (list id i) shared))
          (hash-table-set! table (list id i) (* id i)))
        (mutex-unlock! m)
        ;; garbage outside the lock
        (make-vector 4 (cons i i))
        (loop (+ i 1))))
    id))

(define ts (map (lambda (id) (spawn (worker id 20000))) '(1 2 3 4)))
(show "joined" (map join ts))
(show "counter" counter)
(show "shared length" (length shared))
(show "shared sum of ids" (apply + (map car shared)))
(show "table size" (hash-table-size table))
(show "table sum" (let loop ((id 1) (s 0))
                     (if (> id 4) s
                         (loop (+ id 1)
                               (let inner ((i 0) (s s))
                                 (if (>= i 20000) s
                                     (inner (+ i 100) (+ s (hash-table-ref/default table (list id i) 0)))))))))
(collect-garbage)
(show "per thread entries"
      (map (lambda (id) (length (let loop ((l shared) (acc '())) (cond ((null? l) acc) ((= (caar l) id) (loop (cdr l) (cons (car l) acc))) (else (loop (cdr l) acc))))))
           '(1 2 3 4)))
