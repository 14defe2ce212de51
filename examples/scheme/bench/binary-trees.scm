;; binary-trees.scm: the Computer Language Benchmarks Game's binary-trees
;; (depths 4 to 16): a stretch tree of depth 17, a long-lived tree of depth
;; 16, and at each even depth d from 4 to 16, 2^(16 - d + 4) trees of
;; depth d built, checked (the node count) and dropped.

(define (make d)
  (if (= d 0)
      (cons '() '())
      (cons (make (- d 1)) (make (- d 1)))))

(define (check t)
  (if (null? (car t))
      1
      (+ 1 (check (car t)) (check (cdr t)))))

(define tab (string (integer->char 9)))
(define (line . parts) (for-each display parts) (newline))

(define min-depth 4)
(define max-depth 16)
(define stretch (+ max-depth 1))

(line "stretch tree of depth " stretch tab " check: " (check (make stretch)))
(define long-lived (make max-depth))
(do ((d min-depth (+ d 2))) ((> d max-depth))
  (let ((iterations (expt 2 (+ (- max-depth d) min-depth))))
    (let loop ((i 0) (sum 0))
      (if (= i iterations)
          (line iterations tab " trees of depth " d tab " check: " sum)
          (loop (+ i 1) (+ sum (check (make d))))))))
(line "long lived tree of depth " max-depth tab " check: " (check long-lived))
