"""Where uploaded files live: a registry of storage backends (local disk, the database),
chosen by ``FILE_STORAGE``; ``flask lms move-files`` moves files between them."""
