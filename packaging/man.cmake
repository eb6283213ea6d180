# cmake -P script: one gzipped man page from PROGRAM's --help and --version.
# -DHELP2MAN= -DPROGRAM= -DNAME= -DSUMMARY= -DOUT=
get_filename_component(dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
set(page ${dir}/${NAME}.1)
# SOURCE_DATE_EPOCH keeps the page's date reproducible.
set(ENV{SOURCE_DATE_EPOCH} 1700000000)
execute_process(COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1
    --name=${SUMMARY} --output=${page} ${PROGRAM}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man ${PROGRAM} failed (${rc}): does it answer --help and --version?")
endif()
# help2man names the page after the file; the client's file is "roomvpn".
execute_process(COMMAND gzip -9nf ${page} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip ${page} failed")
endif()
