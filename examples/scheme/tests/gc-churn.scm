;; gc-churn.scm: a long-lived structure (a vector of lists, an association
;; list, a tree) kept intact while far more garbage is made around it and
;; collections run, explicitly and on their own; old objects are made to
;; point at young ones (the write barrier's case) and the checksums are
;; printed at each step.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define live (make-vector 1000 '()))
(define (live-sum)
  (let loop ((i 0) (s 0))
    (if (= i 1000) s
        (loop (+ i 1) (+ s (apply + (vector-ref live i)))))))

(let loop ((i 0)) (when (< i 1000) (vector-set! live i (list i i i)) (loop (+ i 1))))
(show "initial" (live-sum))

(define (garbage n)
  (let loop ((i 0) (keep '()))
    (if (= i n) (length keep)
        (let ((x (list (make-vector 8 i) (string-append "g" (number->string i)) (lambda () i))))
          (loop (+ i 1) (if (= 0 (remainder i 1000)) (cons x keep) keep))))))

(define (step k)
  ;; Old slots get young lists.
  (let loop ((i 0)) (when (< i 1000)
                      (when (= (remainder i 7) (remainder k 7))
                        (vector-set! live i (list i k (garbage 0))))
                      (loop (+ i 1))))
  (garbage 20000)
  (when (even? k) (collect-garbage))
  (live-sum))

(let loop ((k 0))
  (when (< k 10)
    (show (string-append "step " (number->string k)) (step k))
    (loop (+ k 1))))

;; An old list whose cars are replaced by young values.
(define old (let loop ((i 0) (acc '())) (if (= i 10000) acc (loop (+ i 1) (cons #f acc)))))
(collect-garbage)
(let loop ((l old) (i 0)) (when (pair? l) (set-car! l (cons i (number->string i))) (loop (cdr l) (+ i 1))))
(garbage 20000)
(collect-garbage)
(show "old list of young pairs" (let loop ((l old) (s 0) (n 0)) (if (null? l) (list n s) (loop (cdr l) (+ s (car (car l))) (+ n (string-length (cdr (car l))))))))
