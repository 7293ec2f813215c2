# The live diagnostics page of the admin listener (admin_page/index.html),
# embedded in the broker as the C string brk_admin_page: a build step turns
# the file into a generated .c file (embed.cmake), so the page is edited as
# plain HTML. mqr_admin_page_source(VAR) sets VAR to the generated file's
# path and adds the step to the current directory.
set(MQR_ADMIN_PAGE_DIR ${CMAKE_CURRENT_LIST_DIR})
function(mqr_admin_page_source var)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/admin_page_data.c)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${MQR_ADMIN_PAGE_DIR}/index.html -DOUT=${out}
            -P ${MQR_ADMIN_PAGE_DIR}/embed.cmake
    DEPENDS ${MQR_ADMIN_PAGE_DIR}/index.html ${MQR_ADMIN_PAGE_DIR}/embed.cmake
    COMMENT "Embedding the admin page")
  set(${var} ${out} PARENT_SCOPE)
endfunction()
