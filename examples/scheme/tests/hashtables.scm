;; hashtables.scm: SRFI-69 hash tables (make-hash-table: equal? keys):
;; set, ref/default, delete, size, keys of every kind, many entries
;; through collections, and replacement.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define t (make-hash-table))
(show "empty size" (hash-table-size t))
(hash-table-set! t 'sym 1)
(hash-table-set! t "string" 2)
(hash-table-set! t 42 3)
(hash-table-set! t '(1 2) 4)
(hash-table-set! t #\λ 5)
(hash-table-set! t (vector 1 "x") 6)
(show "size" (hash-table-size t))
(show "refs" (list (hash-table-ref/default t 'sym #f)
                   (hash-table-ref/default t (string-append "str" "ing") #f)
                   (hash-table-ref/default t 42 #f)
                   (hash-table-ref/default t (list 1 2) #f)
                   (hash-table-ref/default t #\λ #f)
                   (hash-table-ref/default t (vector 1 "x") #f)
                   (hash-table-ref/default t 'missing 'default)))
(hash-table-set! t 'sym 'replaced)
(show "replace keeps size" (list (hash-table-ref/default t 'sym #f) (hash-table-size t)))
(hash-table-delete! t "string")
(hash-table-delete! t 'not-there)
(show "after delete" (list (hash-table-ref/default t "string" 'gone) (hash-table-size t)))

;; 20000 entries, collections, deletes of every third.
(define big (make-hash-table))
(define N 20000)
(let loop ((i 0)) (when (< i N) (hash-table-set! big i (list i (* i i))) (loop (+ i 1))))
(collect-garbage)
(show "big size" (hash-table-size big))
(show "big sum" (let loop ((i 0) (s 0)) (if (= i N) s (loop (+ i 1) (+ s (cadr (hash-table-ref/default big i '(0 0))))))))
(let loop ((i 0)) (when (< i N) (hash-table-delete! big i) (loop (+ i 3))))
(collect-garbage)
(show "after deleting every third" (hash-table-size big))
(show "deleted / kept" (list (hash-table-ref/default big 3 'deleted) (hash-table-ref/default big 4 'deleted)))

;; String keys built at run time.
(define st (make-hash-table))
(let loop ((i 0)) (when (< i 5000) (hash-table-set! st (string-append "key-" (number->string i)) i) (loop (+ i 1))))
(collect-garbage)
(show "string keys" (list (hash-table-size st) (hash-table-ref/default st "key-4999" #f) (hash-table-ref/default st "key-5000" #f)))

;; Replacing values many times: the table's size stays put.
(let loop ((i 0)) (when (< i 50000) (hash-table-set! st (string-append "key-" (number->string (remainder i 5000))) (cons i i)) (loop (+ i 1))))
(collect-garbage)
(show "after replacing" (list (hash-table-size st) (hash-table-ref/default st "key-7" #f)))
