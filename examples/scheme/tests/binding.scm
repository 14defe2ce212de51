;; binding.scm: define (and internal defines), let, let*, letrec,
;; letrec*, named let, let-values, do, set!, begin, and shadowing.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define x 10)
(show "let" (let ((x 1) (y x)) (list x y)))
(show "let*" (let* ((x 1) (y x)) (list x y)))
(show "letrec" (letrec ((fact (lambda (n) (if (= n 0) 1 (* n (fact (- n 1))))))) (fact 10)))
(show "letrec*" (letrec* ((a 1) (b (+ a 1)) (c (lambda () (* b 10)))) (list a b (c))))
(show "named let" (let loop ((i 0) (acc '())) (if (= i 5) (reverse acc) (loop (+ i 1) (cons (* i i) acc)))))
(show "empty let" (let () 5))
(show "shadowing" (let ((x 'outer)) (let ((x 'inner)) x)))
(show "outer intact" x)

(define (with-internal n)
  (define a (* n 2))
  (define (helper m) (+ m a))
  (define b (helper 1))
  (list a b (helper 100)))
(show "internal defines" (with-internal 5))

(define (mutual-internal n)
  (define (ev? k) (if (= k 0) #t (od? (- k 1))))
  (define (od? k) (if (= k 0) #f (ev? (- k 1))))
  (list (ev? n) (od? n)))
(show "internal mutual recursion" (mutual-internal 7))

(show "let-values" (let-values (((a b) (floor/ 17 5)) ((c d) (floor/ 4 1))) (list a b c d)))
(show "let-values negative" (let-values (((q r) (floor/ -7 2))) (list q r)))
(show "let-values scope" (let ((a 'outer)) (let-values (((a b) (floor/ 9 2)) ((c d) (floor/ 9 4))) (list a b c d))))
(show "let-values nested"
      (let-values (((a b) (floor/ 100 7)))
        (let-values (((c d) (floor/ a b)))
          (list a b c d))))

(show "do" (do ((i 0 (+ i 1)) (acc '() (cons i acc))) ((= i 5) acc)))
(show "do with body" (let ((v (make-vector 5 0)))
                       (do ((i 0 (+ i 1))) ((= i 5) v)
                         (vector-set! v i (* i 10)))))
(show "do no step" (do ((i 0 (+ i 1)) (fixed 'same)) ((= i 3) (list i fixed))))
(show "do result many" (do ((i 3 (- i 1))) ((= i 0) 'a 'b 'last)))

(define counter 0)
(define (bump!) (set! counter (+ counter 1)) counter)
(bump!) (bump!)
(show "set! global" counter)
(show "set! local" (let ((y 1)) (set! y (+ y 41)) y))
(show "begin" (begin 1 2 3))
(define (defined-later) (later-helper 5))
(define (later-helper n) (* n 11))
(show "forward reference" (defined-later))
