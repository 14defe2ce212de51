;; ports-file.scm: file ports. A port dropped without close-port is closed
;; by its finalizer once a collection finds it unreachable, and the close
;; flushes what was buffered: the data written must be in the file.
;; The runner starts each test in a fresh temporary directory (the files
;; are made there) with `ulimit -n 512`, so leaking the descriptors of the
;; 1,500 dropped ports below fails the test. (GNU Guile closes and flushes
;; a dropped file port from a finalizer too; it runs them after a
;; collection, maybe on another thread, hence the retries below.)

(define (show label v) (display label) (display ": ") (write v) (newline))

(define (read-lines name)
  (let ((p (open-input-file name)))
    (let loop ((acc '()))
      (let ((l (read-line p)))
        (if (eof-object? l)
            (begin (close-port p) (reverse acc))
            (loop (cons l acc)))))))

;; An explicitly closed port.
(let ((p (open-output-file "closed.txt")))
  (display "closed explicitly" p) (newline p)
  (write '(a "b" #\c 42) p) (newline p)
  (close-port p))
(show "closed.txt" (read-lines "closed.txt"))

;; A port written and dropped without being closed.
(define (write-and-drop name n)
  (let ((p (open-output-file name)))
    (display "dropped port " p)
    (display name p)
    (newline p)
    (let loop ((i 0)) (when (< i n) (write i p) (display " " p) (loop (+ i 1))))
    (newline p)
    (display "λ é 😀" p)
    (newline p)))
(write-and-drop "dropped.txt" 20)

;; Collect until the finalizer has run (at most 50 tries), then read back.
(define expected-lines 3)
(define (settle name want)
  (let loop ((tries 0))
    (collect-garbage)
    (let ((lines (read-lines name)))
      (if (or (= (length lines) want) (= tries 50))
          lines
          (loop (+ tries 1))))))
(define lines (settle "dropped.txt" expected-lines))
(show "dropped.txt lines" (length lines))
(for-each (lambda (l) (show "line" l)) lines)

;; 1,500 dropped output ports, a collection every 50: the descriptors must
;; be released by the finalizers (the runner's ulimit -n 512 would fail
;; the opens otherwise).
(define (fname i) (string-append "many-" (number->string i) ".txt"))
(let loop ((i 0))
  (when (< i 1500)
    (let ((p (open-output-file (fname i))))
      (write (* i i) p)
      (newline p))
    (when (= (remainder i 50) 49) (collect-garbage))
    (loop (+ i 1))))
(define (count-written)
  (let loop ((i 0) (n 0)) (if (= i 1500) n (loop (+ i 1) (if (= (length (read-lines (fname i))) 1) (+ n 1) n)))))
(let loop ((tries 0))
  (collect-garbage)
  (unless (or (= (count-written) 1500) (= tries 50)) (loop (+ tries 1))))
(show "files with their line" (count-written))
(show "sum of the 1500 files' numbers"
      (let loop ((i 0) (s 0))
        (if (= i 1500) s
            (let ((ls (read-lines (fname i))))
              (loop (+ i 1) (if (pair? ls) (+ s (string->number (car ls))) s))))))

;; 1,500 dropped input ports.
(show "chars read through dropped input ports"
      (let loop ((i 0) (n 0))
        (if (= i 1500) n
            (let ((p (open-input-file (fname i))))
              (when (= (remainder i 50) 49) (collect-garbage))
              (loop (+ i 1) (if (eof-object? (read-char p)) n (+ n 1)))))))

;; read, peek-char and read-char on a file port.
(let ((p (open-output-file "data.scm")))
  (write '(define x (list 1 2 "three")) p)
  (display " 42 sym " p)
  (close-port p))
(let ((p (open-input-file "data.scm")))
  (show "peek-char" (peek-char p))
  (show "read" (read p))
  (show "read" (read p))
  (show "read-char" (read-char p))
  (show "read" (read p))
  (show "eof" (eof-object? (read p)))
  (close-port p))
