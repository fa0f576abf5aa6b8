# cmake -DIN=obj.o -DOUT=obj.c -P embed.cmake: writes the bytes of IN as a C array.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from ct_fastpath.bpf.o by embed.cmake. */\n"
     "const unsigned char ctsim_tc_bpf_object[] = {${bytes}};\n"
     "const unsigned int ctsim_tc_bpf_object_len = ${len};\n")
