;; threads.scm: 4 threads each build and drop structures (lists, trees,
;; vectors, strings, closures) concurrently and return a checksum; the
;; main thread builds its own meanwhile, joins them and prints the
;; checksums. Every thread allocates enough to run many collections while
;; the others run.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define (make-tree d) (if (= d 0) (cons 0 0) (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (check-tree t) (if (pair? (car t)) (+ 1 (check-tree (car t)) (check-tree (cdr t))) 1))

(define (work id)
  (let loop ((round 0) (sum 0))
    (if (= round 100)
        sum
        (let* ((l (let build ((i 0) (acc '())) (if (= i 2000) acc (build (+ i 1) (cons (+ i id) acc)))))
               (t (make-tree 9))
               (v (list->vector l))
               (s (number->string (* id round)))
               (f (map (lambda (x) (lambda () (+ x id))) '(1 2 3))))
          (loop (+ round 1)
                (remainder (+ sum (apply + l) (check-tree t) (vector-length v)
                              (string-length s) (apply + (map (lambda (g) (g)) f)))
                           1000000007))))))

(define threads (map (lambda (id) (spawn (lambda () (work id)))) '(1 2 3 4)))
(define mine (work 0))
(define results (map join threads))
(show "thread checksums" results)
(show "main checksum" mine)
(show "each as computed alone" (equal? results (map work '(1 2 3 4))))

;; Threads returning structures: the values survive the threads' end and
;; a collection.
(define makers (map (lambda (n) (spawn (lambda () (let loop ((i 0) (acc '())) (if (= i n) acc (loop (+ i 1) (cons (vector i (* i i)) acc)))))))
                    '(1000 2000 3000 4000)))
(define lists (map join makers))
(collect-garbage)
(show "returned lengths" (map length lists))
(show "returned sums" (map (lambda (l) (apply + (map (lambda (v) (vector-ref v 1)) l))) lists))

;; A thread that spawns threads.
(define outer (spawn (lambda ()
                       (let ((inner (map (lambda (k) (spawn (lambda () (* k k)))) '(1 2 3))))
                         (apply + (map join inner))))))
(show "nested spawn" (join outer))
(show "join returns any value" (join (spawn (lambda () (list 'a "b" #\c)))))
