;; weak.scm: a weak-key hash table (make-weak-key-hash-table) keeps the
;; entries whose keys are reachable elsewhere and loses the others after
;; (collect-garbage).
;;
;; The transcript holds only what is deterministic on GNU Guile (whose
;; collector scans stacks conservatively) and on ours: kept keys are all
;; found with their values; the table's size after the collections is
;; between the number of kept keys and the total; and at most 1% of the
;; dropped keys are left (Guile leaves none; an exact collector should
;; leave none either, but our collector scans the C stacks conservatively
;; too, so a stale word may keep a few).

(define (show label v) (display label) (display ": ") (write v) (newline))

(define K 200)   ; kept keys
(define D 2000)  ; dropped keys

(define t (make-weak-key-hash-table))
(define kept
  (let loop ((i 0) (acc '()))
    (if (= i K) acc (loop (+ i 1) (cons (list 'kept i) acc)))))
(for-each (lambda (k) (hash-table-set! t k (* 10 (cadr k)))) kept)
(define (fill-dropped!)
  (let loop ((i 0))
    (when (< i D)
      (hash-table-set! t (list 'dropped i) (make-vector 3 i))
      (loop (+ i 1)))))
(fill-dropped!)
(show "size before at most the total" (<= (hash-table-size t) (+ K D)))

(collect-garbage) (collect-garbage) (collect-garbage)

(define (kept-found)
  (let loop ((ks kept) (n 0) (sum 0))
    (if (null? ks) (list n sum)
        (let ((v (hash-table-ref/default t (car ks) #f)))
          (if v (loop (cdr ks) (+ n 1) (+ sum v)) (loop (cdr ks) n sum))))))
(show "kept: found, sum of values" (kept-found))
(define size-after (hash-table-size t))
(show "size after between kept and total" (and (>= size-after K) (<= size-after (+ K D))))
(show "dropped keys left at most 1%" (<= (- size-after K) (quotient D 100)))
;; A key never inserted.
(show "lookup of a key never inserted" (hash-table-ref/default t (list 'never 5) 'absent))

;; Dropping half the kept keys (the list's every other element).
(define (every-other l) (if (or (null? l) (null? (cdr l))) l (cons (car l) (every-other (cddr l)))))
(set! kept (every-other kept))
(collect-garbage) (collect-garbage) (collect-garbage)
(show "kept after halving" (length kept))
(show "found after halving" (kept-found))
(define size-2 (hash-table-size t))
(show "size between kept and before" (and (>= size-2 (length kept)) (<= size-2 size-after)))
(show "released kept keys left at most 10%" (<= (- size-2 (length kept)) (quotient K 10)))

;; Deleting from a weak table, and re-setting a live key.
(hash-table-delete! t (car kept))
(show "deleted key" (hash-table-ref/default t (car kept) 'deleted))
(hash-table-set! t (cadr kept) 'replaced)
(show "replaced value" (hash-table-ref/default t (cadr kept) #f))
(show "size after delete" (<= (hash-table-size t) (- size-2 1)))

;; Keys that are symbols, strings and records kept in variables.
(define-record-type key (make-key n) key? (n key-n))
(define t2 (make-weak-key-hash-table))
(define rk (make-key 1))
(define sk (string-append "str" "ing"))
(hash-table-set! t2 rk 'record)
(hash-table-set! t2 sk 'string)
(hash-table-set! t2 'sym 'symbol)
(collect-garbage)
(show "record/string/symbol keys"
      (list (hash-table-ref/default t2 rk #f) (hash-table-ref/default t2 sk #f) (hash-table-ref/default t2 'sym #f)))
