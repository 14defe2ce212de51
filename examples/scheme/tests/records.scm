;; records.scm: define-record-type: constructors, predicates, accessors,
;; modifiers, records as fields of records, and their printed form
;; (GNU Guile's: #<point x: 1 y: 2>, fields written with write).

(define (show label v) (display label) (display ": ") (write v) (newline))

(define-record-type point
  (make-point x y)
  point?
  (x point-x set-point-x!)
  (y point-y set-point-y!))

(define p (make-point 1 2))
(show "point?" (list (point? p) (point? 5) (point? '(1 2)) (point? (vector 1 2))))
(show "accessors" (list (point-x p) (point-y p)))
(set-point-x! p 10)
(show "after set-point-x!" (point-x p))
(display p) (newline)
(write p) (newline)
(set-point-x! p 1)
(display (list p (make-point 3 4))) (newline)

;; A constructor that takes a subset of the fields, in another order.
(define-record-type node
  (make-node value)
  node?
  (value node-value)
  (next node-next set-node-next!))
(define n1 (make-node "first"))
(set-node-next! n1 '())
(define n2 (make-node 'second))
(set-node-next! n2 n1)
(display n2) (newline)
(write (node-value (node-next n2))) (newline)

(define-record-type empty (make-empty) empty?)
(display (make-empty)) (newline)
(show "empty? / node?" (list (empty? (make-empty)) (node? (make-empty)) (empty? n1)))

;; Records with strings, chars and nested records: the fields are written.
(define-record-type pair3 (make-pair3 a b c) pair3? (a p3-a) (b p3-b) (c p3-c))
(display (make-pair3 "str" #\c (make-point 5 6))) (newline)

;; A linked list of 10000 records through a collection.
(define (build n)
  (let loop ((i 0) (acc '()))
    (if (= i n) acc
        (let ((nd (make-node i)))
          (set-node-next! nd acc)
          (loop (+ i 1) nd)))))
(define chain (build 10000))
(collect-garbage)
(show "chain sum"
      (let loop ((nd chain) (s 0)) (if (null? nd) s (loop (node-next nd) (+ s (node-value nd))))))

;; Records as hash table keys and values.
(define t (make-hash-table))
(define pts (map (lambda (i) (make-point i (* i i))) '(1 2 3 4 5)))
(for-each (lambda (q) (hash-table-set! t q (point-y q))) pts)
(show "table of records" (map (lambda (q) (hash-table-ref/default t q #f)) pts))
(show "eq? of one record" (let ((q (make-point 1 1))) (eq? q q)))
(show "procedure? of an accessor" (procedure? point-x))
