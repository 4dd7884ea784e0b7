"""The kernel's view: TCP states and accept queues read from the kernel itself."""
