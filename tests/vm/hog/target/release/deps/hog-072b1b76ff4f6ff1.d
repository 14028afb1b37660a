/work/main/tests/vm/hog/target/release/deps/hog-072b1b76ff4f6ff1.d: src/main.rs src/args.rs src/grow.rs src/init.rs src/modes.rs src/stamp.rs src/sys.rs

/work/main/tests/vm/hog/target/release/deps/hog-072b1b76ff4f6ff1: src/main.rs src/args.rs src/grow.rs src/init.rs src/modes.rs src/stamp.rs src/sys.rs

src/main.rs:
src/args.rs:
src/grow.rs:
src/init.rs:
src/modes.rs:
src/stamp.rs:
src/sys.rs:
