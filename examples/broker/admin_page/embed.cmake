# cmake -DIN=index.html -DOUT=admin_page_data.c -P embed.cmake
# Writes IN's bytes as the C array brk_admin_page (NUL-terminated) and its
# length as brk_admin_page_len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* Generated from examples/broker/admin_page/index.html by embed.cmake. */\n"
                  "#include <stddef.h>\n"
                  "extern const char brk_admin_page[];\n"
                  "extern const size_t brk_admin_page_len;\n"
                  "const char brk_admin_page[] = {\n${body}0};\n"
                  "const size_t brk_admin_page_len = ${len};\n")
