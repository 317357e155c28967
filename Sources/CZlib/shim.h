// zlib (inflate, crc32) for reading .xlsx uploads (Domain/Staff/ZipArchive.swift). Headers only.
#include <zlib.h>
